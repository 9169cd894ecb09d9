"""The warehouse client's bulk load, ``write``: the pipeline's upsert of many records.

It casts the records to an object schema if given, creates the table and any missing column,
lands the records in a staging table by the store's bulk path (DuckDB from Arrow, PostgreSQL by
ADBC's binary COPY) and upserts them by primary key in two set-based statements, leaving
unchanged rows untouched. ``stagehouse replicate`` uses the same steps.

Example::

    wh = connect("warehouse")
    wh.write("crm", "contacts", records, pk="id")   # {'inserted': 10, 'updated': 2, 'unchanged': 88}
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.errors import StagehouseError, WarehouseError, first_line
from stagehouse.connectors.sql.described import described_table
from stagehouse.connectors.sql.dialects import bulk_dialects, dialect_of
from stagehouse.connectors.sql.identifiers import checked, checked_table, dotted, quoted_name
from stagehouse.connectors.sql.load_types import arrow_schema_from_object_schema, sql_type


class BulkVerbs:
    """write/ensure_table/land/merge_from, mixed into ``SqlConnection``."""

    name: str

    if TYPE_CHECKING:

        @property
        def engine(self) -> sa.Engine: ...  # the connection's (a cached_property there)

    _writable: Callable[[sa.Table], sa.Table]  # WarehouseVerbs: refuses a view

    def write(
        self,
        schema: str | None,
        table: str,
        records: Iterable[Mapping[str, Any]] | pa.Table,
        object_schema: Mapping[str, Any] | None = None,
        *,
        pk: str | list[str],
    ) -> dict[str, int]:
        """The pipeline load: cast to ``object_schema`` (JSON-schema ``properties``) if given,
        create the table / missing columns, replace rows by ``pk`` (columns not in the records
        become NULL), skip rows that would not change. Bulk path: staging table + two statements.
        """
        schema, table = checked_table(self.name, table, schema)
        keys = [checked(self.name, "column", k) for k in ([pk] if isinstance(pk, str) else pk)]
        data = records if isinstance(records, pa.Table) else _arrow_records(records)
        if object_schema is not None:
            data = _cast(self.name, table, data, arrow_schema_from_object_schema(object_schema))
        for column in data.column_names:
            checked(self.name, "column", column)
        missing_keys = [k for k in keys if k not in data.column_names]
        if missing_keys:
            raise WarehouseError(
                self.name, f"table '{dotted(schema, table)}'", f"records have no primary key field {missing_keys}"
            )
        dialect = dialect_of(self.engine)
        if not dialect.capabilities.bulk_load:
            raise WarehouseError(
                self.name, "write", f"bulk write supports {', '.join(bulk_dialects())}, not {dialect.name}"
            )
        target = self.ensure_table(schema, table, data.schema, keys)
        stage_name = f"_sh_stage_{uuid.uuid4().hex[:12]}"
        self.land(schema, stage_name, data)
        try:
            return self.merge_from(
                target,
                sa.Table(stage_name, sa.MetaData(), *(sa.Column(c) for c in data.column_names), schema=schema),
                keys,
            )
        finally:
            with self.engine.begin() as conn:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {quoted_name(self.engine, schema, stage_name)}"))

    def ensure_table(self, schema: str | None, table: str, arrow: pa.Schema, keys: list[str]) -> sa.Table:
        """``schema.table`` with a column for every field of ``arrow``: created (``keys`` as its
        primary key) when absent, missing columns added when present. Existing columns stay."""
        existing = described_table(self.engine, schema, table)
        if existing is not None:
            self._writable(existing)
        dialect = self.engine.dialect
        with self.engine.begin() as conn:
            if existing is None:
                if schema:
                    conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
                columns = [
                    sa.Column(
                        f.name,
                        sql_type(f.type),
                        primary_key=f.name in keys,
                        nullable=f.name not in keys,
                        autoincrement=False,
                    )
                    for f in arrow
                ]
                conn.execute(sa.schema.CreateTable(sa.Table(table, sa.MetaData(), *columns, schema=schema)))
            else:
                for field in arrow:
                    if field.name not in existing.c:
                        column = sa.Column(field.name, sql_type(field.type))
                        ddl = sa.schema.CreateColumn(column).compile(dialect=dialect)
                        conn.execute(sa.text(f"ALTER TABLE {quoted_name(self.engine, schema, table)} ADD COLUMN {ddl}"))
        written = described_table(self.engine, schema, table)
        assert written is not None  # created above if it was not there
        return written

    def land(self, schema: str | None, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        """Create ``schema.name`` from ``data`` by the store's bulk path: DuckDB scans the Arrow
        data itself, PostgreSQL receives it by ADBC's binary COPY. A stream is read batch by batch."""
        try:
            if schema:
                with self.engine.begin() as conn:
                    conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            dialect_of(self.engine).land_arrow(self.engine, schema, name, data)
        except StagehouseError:
            raise
        except Exception as exc:
            raise WarehouseError(
                self.name, f"table '{dotted(schema, name)}'", f"bulk load failed: {first_line(exc)}"
            ) from exc

    def merge_from(self, target: sa.Table, stage: sa.Table, keys: list[str]) -> dict[str, int]:
        """Upsert the rows of ``stage`` into ``target`` by ``keys`` in one transaction; rows that
        would not change are left alone. Counts of inserted, updated and unchanged rows."""
        values = [c.name for c in target.columns if c.name not in keys]
        incoming = {c.name for c in stage.columns}
        new_value = {c: (stage.c[c] if c in incoming else sa.null()) for c in values}
        matches = sa.and_(*(target.c[k] == stage.c[k] for k in keys))
        differs = (
            sa.or_(
                *(
                    target.c[c].is_distinct_from(sa.cast(v, target.c[c].type) if c in incoming else v)
                    for c, v in new_value.items()
                )
            )
            if values
            else sa.false()
        )
        with self.engine.begin() as conn:
            duplicate = conn.execute(
                sa.select(*(stage.c[k] for k in keys))
                .group_by(*(stage.c[k] for k in keys))
                .having(sa.func.count() > 1)
                .limit(1)
            ).first()
            if duplicate:
                raise WarehouseError(
                    self.name,
                    f"table '{dotted(target.schema, target.name)}'",
                    f"records repeat the key {dict(zip(keys, duplicate, strict=True))}",
                )
            total = conn.execute(sa.select(sa.func.count()).select_from(stage)).scalar_one()
            known = conn.execute(
                sa.select(sa.func.count()).select_from(stage).where(sa.exists().where(matches))
            ).scalar_one()
            updated = (
                dialect_of(conn).affected_rows(conn, sa.update(target).where(matches, differs).values(new_value))
                if values
                else 0
            )
            new_rows = sa.select(*(stage.c[c] for c in stage.columns.keys())).where(~sa.exists().where(matches))
            conn.execute(sa.insert(target).from_select(list(stage.columns.keys()), new_rows))
            inserted = total - known
        return {"inserted": inserted, "updated": updated, "unchanged": total - inserted - updated}


def _arrow_records(records: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Records as an Arrow table with the union of their keys (a key missing in a record is NULL)."""
    rows = [dict(r) for r in records]
    columns = dict.fromkeys(key for row in rows for key in row)
    return pa.table({column: [row.get(column) for row in rows] for column in columns})


def _cast(connection: str, table: str, data: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = {}
    for field in schema:
        if field.name not in data.column_names:
            columns[field.name] = pa.nulls(data.num_rows, field.type)
            continue
        try:
            columns[field.name] = data[field.name].cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise WarehouseError(
                connection, f"table '{table}'", f"field '{field.name}' does not fit {field.type}: {exc}"
            ) from exc
    for name in data.column_names:
        columns.setdefault(name, data[name])
    return pa.table(columns)

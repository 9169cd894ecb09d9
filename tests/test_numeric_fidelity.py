"""PostgreSQL ``numeric`` values land exactly or are refused: never NaN → 0, never through a double."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage

from stagehouse.connectors.sql.exact_numerics import UnrepresentableValueError
from stagehouse.connectors.sql.not_finite import TARGET as NOT_FINITE_TARGET
from stagehouse.flows import run_flow
from stagehouse.tasks import sync
from tests.conftest import sqlalchemy_url
from tests.test_sql_sources import store_types

WIDE = "123456789012345678901234567890.12345"
LONG = "1.123456789012345678901234567890"


@pytest.fixture
def accounts(pg_url):
    """(table, engine) of a fresh PostgreSQL table with numeric(12,2), unconstrained numeric and numeric(40,5)."""
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    name = f"sh_num_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {name} (id int PRIMARY KEY, seq int, balance numeric(12,2), amount numeric, wide "
                "numeric(40,5))"
            )
        )
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (1, 1, 10.50, 2.5, 12345.12345), (2, 2, NULL, 7, NULL)"))
    yield name, engine
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def flow_of(*args, **kwargs) -> Flow:
    with Flow("numerics") as flow:
        with Stage("raw"):
            sync(*args, **kwargs)
    return flow


def as_text(rows: list[dict]) -> list[tuple]:
    """The rows as a user reads them: each value's exact text."""
    return [tuple(None if value is None else str(value) for value in row.values()) for row in rows]


def kwargs_of(mode: str) -> dict:
    return {} if mode == "full" else {"mode": mode, "cursor": "seq"}


def binary_copy(project, mode: str) -> bool:
    """A full sync into the PostgreSQL store copies a PostgreSQL source's rows as is (``pg_copy``)."""
    return mode == "full" and project.instance == "postgres"


def keeps_wide(project, mode: str, column: str) -> bool:
    """The PostgreSQL store keeps an unconstrained or numeric(40,5) value as is on every path."""
    return project.instance == "postgres" and column in ("amount", "wide")


@pytest.mark.parametrize("mode", ["full", "merge", "incremental"])
def test_numeric_types_and_values_are_kept_exactly(project, accounts, mode):
    """numeric(12,2) stays 10.50; an unconstrained numeric and a numeric(40,5) keep every digit they
    carry (DuckDB's scanner read both as DOUBLE) — on the first load and on the next. The
    PostgreSQL store keeps the source's types; DuckDB's DECIMAL stops at 38 digits."""
    name, engine = accounts
    assert (report := run_flow(flow_of("pg", name, **kwargs_of(mode)))).ok, report.error
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO {name} VALUES (3, 3, 99.99, 12345678901234567890123456789.123456789, "
                "1234567890123456789012345678901.12345)"
            )
        )
    assert (report := run_flow(flow_of("pg", name, **kwargs_of(mode)))).ok, report.error

    types = store_types(project, "raw", name)
    if project.instance == "postgres":
        expected = ("numeric(12,2)", "numeric", "numeric(40,5)")
    else:
        expected = ("DECIMAL(12,2)", "DECIMAL(38,9)", "DECIMAL(38,5)")
    assert (types["balance"], types["amount"], types["wide"]) == expected
    rows = [{k: row[k] for k in ("balance", "amount", "wide")} for row in project.read("raw", name, order_by="id")]
    values = [tuple(None if v is None else Decimal(v) for v in row) for row in as_text(rows)]
    assert values == [
        (Decimal("10.50"), Decimal("2.5"), Decimal("12345.12345")),
        (None, Decimal("7"), None),
        (
            Decimal("99.99"),
            Decimal("12345678901234567890123456789.123456789"),
            Decimal("1234567890123456789012345678901.12345"),
        ),
    ]
    assert as_text(rows)[0][0] == "10.50"


def refusal(name: str, row: str, field: str, value: str, target: str, fix: str) -> str:
    return (
        f"connection 'pg', table '{name}': row {row}, field {field} holds {value}, which {target} cannot hold exactly; "
        f"nothing was committed — {fix}"
    )


NAN_FIX = (
    "cast it in a query: sync(..., query=\"SELECT ..., NULLIF(balance, 'NaN') AS balance ...\") (NULL), or "
    "balance::float8 AS balance (a float keeps NaN)"
)


@pytest.mark.parametrize("mode", ["full", "merge"])
def test_nan_is_refused_naming_the_row_and_the_committed_table_stays(project, accounts, mode):
    """A numeric NaN has no DECIMAL form: the sync fails with one line naming the row's key, the
    field, the value and the fix, and the committed table is unchanged (it became 0.00 before).
    A full copy into the PostgreSQL store refuses it too: its numeric(12,2) would hold NaN, but
    DuckDB's scanner (``stagehouse query``) read it back as 0.00 and ``fetch`` could not read it."""
    name, engine = accounts
    assert (report := run_flow(flow_of("pg", name, **kwargs_of(mode)))).ok, report.error
    before = project.read("raw", name, order_by="id")
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {name} (id, seq, balance) VALUES (3, 3, 'NaN')"))

    report = run_flow(flow_of("pg", name, **kwargs_of(mode)))
    assert not report.ok
    assert isinstance(report.error, UnrepresentableValueError)
    target = NOT_FINITE_TARGET if binary_copy(project, mode) else "DECIMAL(12,2)"
    assert str(report.error) == refusal(name, "id=3", "balance", "NaN", target, NAN_FIX)
    assert (report.error.row, report.error.field, report.error.value) == ("id=3", "balance", "NaN")
    assert project.read("raw", name, order_by="id") == before


@pytest.mark.parametrize("mode", ["full", "merge", "incremental"])
@pytest.mark.parametrize(
    ("column", "value", "target", "fix"),
    [
        (
            "amount",
            LONG,
            "DECIMAL(38,9)",
            'round it in a query: sync(..., query="SELECT ..., round(amount, 9) AS amount ..."), or declare the '
            "source column numeric(p,s) with p ≤ 38",
        ),
        (
            "amount",
            WIDE,
            "DECIMAL(38,9)",
            'cast it in a query: sync(..., query="SELECT ..., amount::float8 AS amount ...") if an approximate value '
            "will do",
        ),
        (
            "wide",
            "12345678901234567890123456789012345.50000",
            "DECIMAL(38,5)",
            'cast it in a query: sync(..., query="SELECT ..., wide::float8 AS wide ...") if an approximate value will '
            "do",
        ),
        (
            "amount",
            "NaN",
            "DECIMAL(38,9)",
            "cast it in a query: sync(..., query=\"SELECT ..., NULLIF(amount, 'NaN') AS amount ...\") (NULL), or "
            "amount::float8 AS amount (a float keeps NaN)",
        ),
        (
            "amount",
            "-Infinity",
            "DECIMAL(38,9)",
            "cast it in a query: sync(..., query=\"SELECT ..., NULLIF(amount, '-Infinity') AS amount ...\") (NULL), "
            "or amount::float8 AS amount (a float keeps -Infinity)",
        ),
    ],
    ids=["too-many-decimals", "too-many-digits", "too-large", "nan", "infinity"],
)
def test_value_a_decimal_cannot_hold_is_refused_not_rounded(project, accounts, mode, column, value, target, fix):
    """On DuckDB an unconstrained numeric lands as DECIMAL(38,9), a numeric(40,5) as DECIMAL(38,5):
    a value with more digits is refused (it was rounded through a double before), the committed
    table kept. The PostgreSQL store's numeric takes it as is, on every path; not NaN or an
    infinity, which no reader of the store reads back (refused on every path, both stores)."""
    name, engine = accounts
    assert (report := run_flow(flow_of("pg", name, **kwargs_of(mode)))).ok, report.error
    before = project.read("raw", name, order_by="id")
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {name} (id, seq, {column}) VALUES (7, 7, '{value}')"))

    report = run_flow(flow_of("pg", name, **kwargs_of(mode)))
    finite = value not in ("NaN", "-Infinity")
    if keeps_wide(project, mode, column) and finite:
        assert report.ok, report.error  # the store's numeric takes the source's value as is
        assert str(project.read("raw", name, order_by="id")[-1][column]) == value
        return
    assert not report.ok
    if project.instance == "postgres" and not finite:
        target = NOT_FINITE_TARGET
    assert str(report.error) == refusal(name, "id=7", column, value, target, fix)
    assert project.read("raw", name, order_by="id") == before


def test_a_query_sync_names_the_row_by_its_first_column_and_its_fix_works(project, accounts):
    """A query has no key of its own: the row is named by its first column. The fix the error
    proposes, run as the query, loads the table."""
    name, engine = accounts
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {name} SET balance = 'NaN' WHERE id = 2"))
    incremental = {"mode": "incremental", "cursor": "id", "name": "balances"}  # the Arrow path, on either store
    report = run_flow(flow_of("pg", query=f"SELECT id, balance FROM {name}", **incremental))
    assert not report.ok
    assert str(report.error).startswith("connection 'pg', query: row id=2, field balance holds NaN")
    fixed = run_flow(flow_of("pg", query=f"SELECT id, NULLIF(balance, 'NaN') AS balance FROM {name}", **incremental))
    assert fixed.ok, fixed.error
    assert as_text(project.read("raw", "balances", order_by="id")) == [("1", "10.50"), ("2", None)]


@pytest.mark.parametrize("origin", ["duck", "pg"])
def test_replicate_into_postgresql_keeps_the_declared_numeric_types(tmp_path, pg_url, origin):
    """``replicate`` into PostgreSQL kept numeric(12,2) as a bare numeric (10.50 → 10.5); it keeps
    the declared type now, and a PostgreSQL origin's unconstrained and numeric(40,5) columns exactly."""
    from stagehouse.connectors.registry import connect
    from stagehouse.connectors.sql.replicate import replicate

    specs = {
        "pg": {"type": "sql", "url": pg_url},
        "duck": {"type": "sql", "url": f"duckdb:///{tmp_path}/origin.duckdb"},
    }
    source, target = connect(origin, specs=specs), connect("pg", specs=specs)
    schema = f"repl_num_{uuid.uuid4().hex[:8]}"
    wide = "amount numeric, wide numeric(40,5)" if origin == "pg" else "amount DECIMAL(38,9), wide DECIMAL(38,5)"
    try:
        source.execute(f"CREATE SCHEMA {schema}")
        source.execute(f"CREATE TABLE {schema}.cust (id int PRIMARY KEY, balance numeric(12,2), {wide})")
        source.execute(f"INSERT INTO {schema}.cust VALUES (1, 10.50, 2.5, {WIDE if origin == 'pg' else '12345.12345'})")
        replicate(source, target, f"{schema}_bi", table=f"{schema}.cust", pk="id")
        catalog = target.execute(
            "SELECT attname, format_type(atttypid, atttypmod) AS kind FROM pg_attribute "
            f"WHERE attrelid = '{schema}_bi.cust'::regclass AND attnum > 0 AND NOT attisdropped"
        )
        types = {row["attname"]: row["kind"] for row in catalog}
        expected = (
            ("numeric(12,2)", "numeric", "numeric(40,5)")
            if origin == "pg"
            else ("numeric(12,2)", "numeric(38,9)", "numeric(38,5)")
        )
        assert (types["balance"], types["amount"], types["wide"]) == expected
        row = target.execute(f"SELECT balance::text AS b, wide::text AS w FROM {schema}_bi.cust")[0]
        assert row["b"] == "10.50"
        assert row["w"] == (WIDE if origin == "pg" else "12345.12345")
    finally:
        for name in (schema, f"{schema}_bi"):
            for conn in {id(source): source, id(target): target}.values():
                try:
                    conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
                except Exception:  # noqa: BLE001 - clean-up of the other database
                    pass

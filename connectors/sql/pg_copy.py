"""Copy a PostgreSQL table or query into another PostgreSQL database by binary COPY, as is.

Between two PostgreSQL servers nothing needs to sit in between: what the source's
``COPY (SELECT …) TO STDOUT (FORMAT binary)`` sends is what the target's ``COPY … FROM STDIN
(FORMAT binary)`` reads, as long as each column has the same built-in type on both sides. The
bytes go from one libpq connection to the other through an OS pipe, written and read in C
(psycopg2's ``copy_expert`` on both ends, the source's in a thread of its own), so no Python
code runs per row, and the target's columns keep the source's exact types (``numeric(15,2)``,
``varchar(40)``, ``timestamptz``, ``jsonb``, ``uuid``, arrays). A column of a type the source
database defines itself (an enum, a domain, an extension's type) has no binary form the target
is sure to share: ``columns()`` says None and the caller takes the Arrow path instead. A
``numeric`` NaN or infinity would land as is, where no reader after it (Arrow, ``fetch``, DuckDB's
scanner, which reads it as 0) holds it: ``refuse_not_finite`` refuses it before the commit, as the
Arrow path and a DuckDB store do.

Example::

    plan = connect("shop").binary_copy("public.orders")
    columns = plan.columns()                  # [CopyColumn('id', 'integer'), CopyColumn('total', 'numeric(15,2)'), …]
    rows = plan.copy_into(store_conn, '"raw__tmp"."orders"')   # store_conn: a psycopg2 connection
    plan.refuse_not_finite(store_conn, '"raw__tmp"."orders"')  # NaN in "total": UnrepresentableValueError
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from stagehouse.connectors.errors import SourceError

BACKENDS = frozenset({"postgresql"})  # sources whose rows a PostgreSQL store can take by binary COPY
FIRST_USER_OID = 16384  # PostgreSQL's FirstNormalObjectId: every built-in type's oid is below it
PIPE_BUFFER = 1 << 20
FEED_CHUNK = 1 << 16
NUMERIC = re.compile(r"numeric(\(\d+,-?\d+\))?")  # a scalar numeric column's format_type, not numeric[]


@dataclass(frozen=True)
class CopyColumn:
    """A column of the copied rows and its type as the source declares it (``format_type``)."""

    name: str
    type: str


class PostgresCopy:
    """The rows of one SELECT on a PostgreSQL source, ready to be copied by binary COPY.

    ``conninfo`` is the source's libpq URI (password included: never shown); ``on_error`` turns
    a source failure into the connection's own error (naming it and the table, secrets scrubbed);
    ``connection`` and ``obj`` name them in a refused value.
    """

    def __init__(
        self,
        conninfo: str,
        select: str,
        on_error: Callable[[BaseException], SourceError],
        *,
        connection: str,
        obj: str,
    ) -> None:
        self._conninfo = conninfo
        self.connection, self.obj = connection, obj
        self.select = select.strip().rstrip(";")
        self.on_error = on_error
        self._columns: list[CopyColumn] | None = None
        self._described = False

    def __repr__(self) -> str:
        return f"PostgresCopy({self.select!r})"

    def columns(self) -> list[CopyColumn] | None:
        """The columns with their declared types; None when one of them has a type that is not
        built into PostgreSQL, or two share a name (a query can return both; a table can't)."""
        if not self._described:
            self._columns = self._describe()
            self._described = True
        return self._columns

    def _describe(self) -> list[CopyColumn] | None:
        import psycopg

        try:
            with psycopg.connect(self._conninfo, autocommit=True) as conn:
                result = conn.execute(f"SELECT * FROM (\n{self.select}\n) AS described LIMIT 0").pgresult
                assert result is not None  # set by execute()
                names = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
                oids = [result.ftype(i) for i in range(result.nfields)]
                modifiers = [result.fmod(i) for i in range(result.nfields)]
                types = conn.execute(
                    "SELECT format_type(t, m) FROM unnest(%s::oid[], %s::int[]) WITH ORDINALITY AS c(t, m, n) ORDER "
                    "BY n",
                    (oids, modifiers),
                ).fetchall()
        except psycopg.Error as exc:
            raise self.on_error(exc) from exc
        if len(set(names)) != len(names) or any(oid >= FIRST_USER_OID for oid in oids):
            return None
        return [CopyColumn(name, kind) for name, (kind,) in zip(names, types, strict=True)]

    def copy_into(self, target, into: str) -> int:
        """Copy the rows into the existing table ``into`` (quoted SQL name) over ``target``, a
        psycopg2 connection whose transaction the caller commits; returns the rows copied.

        A source that fails mid-stream raises its own error even when the target had already
        accepted the rows up to there: the caller must not commit then (nor after any error).
        """
        import psycopg2

        try:
            source = psycopg2.connect(self._conninfo)
        except psycopg2.Error as exc:
            raise self.on_error(exc) from exc
        source.autocommit = True
        read_end, write_end = os.pipe()
        sent: dict[str, object] = {}

        def send() -> None:
            try:
                with open(write_end, "wb", buffering=PIPE_BUFFER) as pipe, source.cursor() as cur:
                    cur.copy_expert(f"COPY (\n{self.select}\n) TO STDOUT (FORMAT binary)", pipe)
                    sent["rows"] = cur.rowcount
            except BaseException as exc:  # handed to the main thread, raised there
                sent["error"] = exc

        sender = threading.Thread(target=send, name="stagehouse-copy-out", daemon=True)
        sender.start()
        try:
            with open(read_end, "rb", buffering=PIPE_BUFFER) as pipe, target.cursor() as cur:
                cur.copy_expert(f"COPY {into} FROM STDIN (FORMAT binary)", pipe, size=FEED_CHUNK)
                received = cur.rowcount
        except BaseException as exc:
            source.cancel()  # the pipe is closed: stop the source's server too
            sender.join()
            failure = sent.get("error")
            if isinstance(failure, BaseException) and not _broken_pipe(failure):
                raise self._source_error(failure) from exc
            raise
        finally:
            sender.join()
            source.close()
        if isinstance(error := sent.get("error"), BaseException):
            raise self._source_error(error)
        if received != sent["rows"]:
            raise self.on_error(RuntimeError(f"the source sent {sent['rows']} rows, the target received {received}"))
        return received

    def refuse_not_finite(self, target, into: str) -> None:
        """Refuse the first row of ``into`` (over ``target``, a psycopg2 connection, before its
        commit) with a numeric NaN or ±Infinity, named by its first column
        (``connectors.sql.not_finite``)."""
        from stagehouse.connectors.sql.not_finite import INFINITE_NUMERIC, Named, refuse_not_finite

        columns = self.columns() or []
        numeric = [column.name for column in columns if NUMERIC.fullmatch(column.type)]
        if numeric:
            named = Named(self.connection, self.obj, [columns[0].name])
            with target.cursor() as cur:
                refuse_not_finite(cur, into, numeric, named, infinities=target.server_version >= INFINITE_NUMERIC)

    def _source_error(self, exc: BaseException) -> BaseException:
        return exc if isinstance(exc, SourceError) else self.on_error(exc)


def _broken_pipe(exc: BaseException) -> bool:
    """True for the error the sending thread gets when the receiving end stopped first."""
    return isinstance(exc, BrokenPipeError) or isinstance(exc.__context__, BrokenPipeError)

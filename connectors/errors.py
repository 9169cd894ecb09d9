"""Errors Stagehouse raises on purpose.

Each error carries the objects it is about as fields (``connection``, ``table``, ...) and a
one-line message that names them and says what to do, so the CLI can print it as is.

Example::

    try:
        connect("crm")
    except ConnectionConfigError as exc:
        print(exc.connection, exc)
"""

from __future__ import annotations


def first_line(error: BaseException | str, fallback: str = "") -> str:
    """The first line of an error's text, stripped: what a one-line message shows of it.

    An exception wrapped by SQLAlchemy gives its driver's own (``orig``); an exception without
    text gives its type's name, text without any gives ``fallback``.

    Example: ``first_line(exc)`` → ``'relation "crm.contact" does not exist'``
    """
    if isinstance(error, BaseException):
        fallback = fallback or type(error).__name__
        error = str(getattr(error, "orig", None) or error)
    text = error.strip()
    return text.splitlines()[0] if text else fallback


class StagehouseError(Exception):
    """Base class: the CLI prints these as one line without a traceback."""

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def __reduce__(self):
        """Pickle as message and fields (subclasses' own ``__init__`` signatures differ) and any
        attribute set since: an error raised in a Dask worker must arrive whole in the runner."""
        extra = {k: v for k, v in self.__dict__.items() if k != "fields" and k not in self.fields}
        return _rebuilt, (type(self), str(self), self.fields), extra or None


def _rebuilt(cls: type[StagehouseError], message: str, fields: dict[str, object]) -> StagehouseError:
    error = cls.__new__(cls)
    StagehouseError.__init__(error, message, **fields)
    return error


class ConfigFileError(StagehouseError):
    """pipedag.yaml is missing or malformed."""


class ConnectionConfigError(StagehouseError):
    """A named connection is unknown, has a wrong field, or lacks an environment variable."""

    problem: str  # set from the fields

    def __init__(self, connection: str, problem: str) -> None:
        super().__init__(f"connection '{connection}': {problem}", connection=connection, problem=problem)


class SourceError(StagehouseError):
    """Reading from an outside system failed: unreachable, unknown table, bad query, bad file."""

    def __init__(self, connection: str, obj: str, problem: str) -> None:
        super().__init__(
            f"connection '{connection}', {obj}: {problem}", connection=connection, obj=obj, problem=problem
        )


class CsvFileError(SourceError):
    """A CSV file Stagehouse refuses to read as it stands: names the connection, the file and the fix."""

    def __init__(self, connection: str, file: str, problem: str, **fields: object) -> None:
        StagehouseError.__init__(
            self,
            f"connection '{connection}', file '{file}': {problem}",
            connection=connection,
            obj=f"file '{file}'",
            problem=problem,
            file=file,
            **fields,
        )


class CsvRowError(CsvFileError):
    """A CSV row whose field count disagrees with the file's header (``csv.on_bad_rows: fail``)."""

    def __init__(self, connection: str, file: str, line: int, expected: int | None, found: int | None) -> None:
        problem = (
            f"line {line} has {_fields(found)}, the header has {_fields(expected)}; "
            "fix the file, or set csv: {on_bad_rows: skip} on the connection to skip such rows"
        )
        super().__init__(connection, file, problem, line=line, expected=expected, found=found)


def _fields(count: int | None) -> str:
    return "? fields" if count is None else f"{count} field{'' if count == 1 else 's'}"


class CsvDialectError(CsvFileError):
    """DuckDB read a CSV file as one column although its header holds a likely delimiter."""

    def __init__(self, connection: str, file: str, header: str, delimiter: str) -> None:
        problem = (
            f"read as one column {header!r}, but the header holds the delimiter {delimiter!r}; "
            f"set csv: {{delimiter: {delimiter!r}}} on the connection, or on_bad_rows: skip if some rows have extra "
            "or missing fields"
        )
        super().__init__(connection, file, problem, header=header, delimiter=delimiter)


class SourceUnavailableError(SourceError):
    """The outside system did not answer; retrying later may succeed."""


class UnsafeIdentifierError(StagehouseError):
    """A schema, table or column name that could change the meaning of a SQL statement."""

    def __init__(self, connection: str, kind: str, name: object) -> None:
        super().__init__(
            f"connection '{connection}': {kind} name {name!r} is not allowed (use letters, digits, "
            "spaces, '_', '$' or '-'; no quotes, semicolons or comment marks)",
            connection=connection,
            kind=kind,
            name=name,
        )


class WarehouseError(StagehouseError):
    """A warehouse call was refused: unknown table, missing key, bad record or value."""

    def __init__(self, connection: str, obj: str, problem: str) -> None:
        super().__init__(
            f"connection '{connection}', {obj}: {problem}", connection=connection, obj=obj, problem=problem
        )


class StoreInUseError(WarehouseError):
    """Another process (a run, a duckdb shell) holds the DuckDB store file."""


class RestCallError(StagehouseError, TypeError):
    """A verb of a REST object was called in a shape it cannot take (no id, two ids that differ);
    a ``TypeError`` too, as Python's own wrong calls are."""

    def __init__(self, connection: str, obj: str, problem: str) -> None:
        super().__init__(
            f"connection '{connection}', object '{obj}': {problem}", connection=connection, obj=obj, problem=problem
        )

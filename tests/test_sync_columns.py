"""Columns a sync names that the source lacks, or of the wrong type, fail with one line naming the fix."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage

from stagehouse.flows import run_flow
from stagehouse.tasks import TaskDefinitionError, sync
from tests.conftest import sqlalchemy_url


@pytest.fixture
def customers(pg_url):
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    name = f"sh_cols_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id integer, email text, removed text)"))
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (1, 'a@x', 'no'), (2, 'b@x', 'yes')"))
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {name}"))
    engine.dispose()


def run(table: str, **spec):
    with Flow("cols") as flow, Stage("raw"):
        sync("pg", table, name="customers", **spec)
    return run_flow(flow)


@pytest.mark.parametrize("mode", ["full", "merge"])
def test_a_primary_key_that_is_not_a_column_names_the_columns(project, customers, mode):
    report = run(customers, primary_key="nope", mode=mode)
    assert not report.ok
    assert (
        str(report.error)
        == f"connection 'pg', table '{customers}': primary_key 'nope' is not a column (columns: id, email, removed)"
    )


def test_a_deleted_column_must_be_a_boolean_column_of_the_source(project, customers):
    report = run(customers, primary_key="id", mode="merge", deleted_column="gone")
    assert (
        str(report.error)
        == f"connection 'pg', table '{customers}': deleted_column 'gone' is not a column (columns: id, email, removed)"
    )
    report = run(customers, primary_key="id", mode="merge", deleted_column="removed")
    assert str(report.error) == (
        f"connection 'pg', table '{customers}': deleted_column 'removed' is "
        f"{'VARCHAR' if project.instance == 'local' else 'text'}, not boolean (or a whole number, non-zero: deleted); "
        "sync a query= that reads it as one "
        "(e.g. removed = 'yes' AS removed)"
    )
    with Flow("cols") as flow, Stage("raw"):
        sync(
            "pg",
            query=f"SELECT id, email, removed = 'yes' AS removed FROM {customers}",
            name="customers",
            primary_key="id",
            mode="merge",
            deleted_column="removed",
        )
    report = run_flow(flow)
    assert report.ok, report.error
    assert [r["id"] for r in project.read("raw", "customers")] == [1]


def test_a_deleted_column_outside_merge_is_refused_when_the_flow_is_built(project):
    with pytest.raises(TaskDefinitionError) as refused, Flow("cols"), Stage("raw"):
        sync("pg", "any_table", name="customers", mode="full", deleted_column="gone")
    assert (
        str(refused.value)
        == "sync of 'customers': deleted_column only applies to mode='merge' (this sync's mode is 'full'); drop it or "
        "use mode='merge'"
    )


@pytest.mark.parametrize("mode", ["incremental", "merge"])
def test_a_cursor_that_is_not_a_column_names_the_columns(project, customers, mode):
    """The cursor's change check runs first in the source: its error was the database's own
    (column "updatd_at" does not exist); it is the same line as a misspelt primary_key now."""
    report = run(customers, cursor="updatd_at", mode=mode, primary_key="id")
    assert not report.ok
    assert str(report.error) == (
        f"connection 'pg', table '{customers}': cursor 'updatd_at' is not a column (columns: id, email, removed)"
    )

"""Stage names are schemas of the instance's store, shared by every flow: a reserved name and a
stage holding another flow's tables are refused before anything is written."""

from __future__ import annotations

from pydiverse.pipedag import Flow, Stage

from stagehouse.flows import run_flow
from stagehouse.flows.stage_names import StageNameError
from stagehouse.tasks import sync


def prices_flow(flow_name: str, stage: str, table: str) -> Flow:
    with Flow(flow_name) as flow:
        with Stage(stage):
            sync("files", "prices.csv", name=table)
    return flow


def write_prices(project) -> None:
    (project.files / "prices.csv").write_text("sku,price\na,1.5\nb,2.5\n")


def test_a_stage_named_pg_something_is_refused_before_the_run(project):
    write_prices(project)
    try:
        run_flow(prices_flow("shop", "pg_raw", "prices"))
    except StageNameError as exc:
        assert "stage 'pg_raw'" in str(exc) and "rename the stage" in str(exc)
    else:
        raise AssertionError("a pg_ stage ran")


def test_a_second_flow_cannot_replace_the_tables_of_a_stage_another_flow_committed(project):
    write_prices(project)
    assert (first := run_flow(prices_flow("example", "raw", "prices"))).ok, first.error

    try:
        run_flow(prices_flow("copied", "raw", "other_prices"))
    except StageNameError as exc:
        assert "stage 'raw'" in str(exc) and "flow 'example'" in str(exc) and "--replace-stages" in str(exc)
    else:
        raise AssertionError("the copied flow replaced the example's stage")
    assert [row["sku"] for row in project.read("raw", "prices", order_by="sku")] == ["a", "b"]  # untouched

    assert run_flow(prices_flow("example", "raw", "prices")).ok  # its own stage: runs as ever
    taken = run_flow(prices_flow("copied", "raw", "other_prices"), replace_stages=True)
    assert taken.ok, taken.error
    assert run_flow(prices_flow("copied", "raw", "other_prices")).ok  # now its stage


def test_a_flow_naming_an_undeclared_connection_is_refused_before_its_stages_exist(project):
    from stagehouse.connectors import ConnectionConfigError, connect

    write_prices(project)
    assert run_flow(prices_flow("example", "raw", "prices")).ok
    with Flow("undeclared") as flow:
        with Stage("undeclared_raw"):
            sync("files", "prices.csv", name="more_prices")
            sync("nowhere", "public.orders")
    try:
        run_flow(flow)
    except ConnectionConfigError as exc:
        assert str(exc).startswith(
            "connection 'nowhere': named by flow 'undeclared' (task sync_orders) is not declared on instance"
        )
        assert "declare it under attrs.connections in pipedag.yaml" in str(exc)
    else:
        raise AssertionError("a flow naming an undeclared connection ran")
    schemas = connect("warehouse", instance=project.instance).list_schemas()
    assert not [schema for schema in schemas if "undeclared_raw" in str(schema)], schemas

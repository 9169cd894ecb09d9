"""The project's flows, run on a throw-away DuckDB store in a temporary folder.

``stagehouse_project`` comes with Stagehouse (the ``stagehouse.testing`` pytest plugin): it
points the run at a copy of this project whose store lives in pytest's tmp_path, so a test never
touches data/.
"""


def test_example_sums_revenue_by_customer(stagehouse_project):
    report = stagehouse_project.run("example")

    assert [task.state for task in report.tasks] == ["COMPLETED", "COMPLETED"]
    assert stagehouse_project.table("mart", "revenue_by_customer", order_by="customer") == [
        {"customer": "acme", "orders": 3, "revenue": 200.0},
        {"customer": "globex", "orders": 2, "revenue": 99.75},
        {"customer": "initech", "orders": 1, "revenue": 200.0},
    ]


def test_a_second_run_reuses_the_cache(stagehouse_project):
    stagehouse_project.run("example")

    again = stagehouse_project.run("example")

    assert {task.state for task in again.tasks} == {"CACHE_VALID"}

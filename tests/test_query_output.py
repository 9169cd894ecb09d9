"""``stagehouse query`` prints lists and intervals in every format (CSV has no nested values, polars no intervals)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import sqlalchemy_url

STAGEHOUSE = str(Path(sys.executable).with_name("stagehouse"))


@pytest.fixture
def pg_waits(pg_url):
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    name = f"sh_waits_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id int, waited interval, tags text[])"))
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (1, '1 day 02:00:00', ARRAY['a', 'b,c']), (2, NULL, NULL)"))
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {name}"))
    engine.dispose()


def test_query_prints_intervals_as_text_and_lists_as_json_in_csv(project, pg_waits):
    def stagehouse(*args):
        sql = f"SELECT id, waited, tags FROM pg.public.{pg_waits} ORDER BY id"
        return subprocess.run(
            [STAGEHOUSE, "query", sql, *args],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "COLUMNS": "200"},
        )

    csv = stagehouse("--format", "csv")
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == ["id,waited,tags", '1,1 day 02:00:00,"[""a"",""b,c""]"', "2,,"]
    answer = stagehouse("--format", "json")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == [
        {"id": 1, "waited": "1 day 02:00:00", "tags": ["a", "b,c"]},
        {"id": 2, "waited": None, "tags": None},
    ]
    table = stagehouse()
    assert table.returncode == 0, table.stderr
    assert "1 day 02:00:00" in table.stdout and "2 rows" in table.stdout

"""The files connector: formats, globs, compression, fingerprints and bad input."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydiverse.pipedag import Flow, Stage

from connectors import FilesConnection, SourceError, connect
from flows import run_flow
from tasks import StoreWriteError, sync


def files(folder: Path, **options) -> FilesConnection:
    return connect("drops", specs={"drops": {"type": "files", "path": str(folder), **options}})


def rows(reader: pa.RecordBatchReader) -> list[dict]:
    return reader.read_all().to_pylist()


def test_csv_glob_reads_all_files_matching_columns_by_name(tmp_path):
    (tmp_path / "day_1.csv").write_text("id,city\n1,Oslo\n2,Rome\n")
    (tmp_path / "day_2.csv").write_text("city,id,extra\nLima,3,late\n")
    (tmp_path / "other.csv").write_text("x\n9\n")
    result = sorted(rows(files(tmp_path).read("day_*.csv")), key=lambda r: r["id"])
    assert result == [
        {"id": 1, "city": "Oslo", "extra": None},
        {"id": 2, "city": "Rome", "extra": None},
        {"id": 3, "city": "Lima", "extra": "late"},
    ]


def test_ndjson_json_and_parquet(tmp_path):
    (tmp_path / "a.ndjson").write_text('{"id": 1, "tags": ["x"]}\n{"id": 2, "tags": []}\n')
    (tmp_path / "b.json").write_text(json.dumps([{"id": 3, "v": 1.5}]))
    pq.write_table(pa.table({"id": [4, 5], "when": pa.array([0, 86_400_000_000], pa.timestamp("us"))}), tmp_path / "c.parquet")
    conn = files(tmp_path)
    assert rows(conn.read("a.ndjson")) == [{"id": 1, "tags": ["x"]}, {"id": 2, "tags": []}]
    assert rows(conn.read("b.json")) == [{"id": 3, "v": 1.5}]
    assert [r["id"] for r in rows(conn.read("c.parquet"))] == [4, 5]


def test_compressed_gz_and_zip(tmp_path):
    with gzip.open(tmp_path / "g.csv.gz", "wt") as fh:
        fh.write("id\n1\n2\n")
    with zipfile.ZipFile(tmp_path / "z.csv.zip", "w") as zf:
        zf.writestr("inner.csv", "id\n7\n")
    conn = files(tmp_path)
    assert rows(conn.read("g.csv.gz")) == [{"id": 1}, {"id": 2}]
    assert rows(conn.read("z.csv.zip")) == [{"id": 7}]


def test_csv_options_from_config(tmp_path):
    (tmp_path / "semi.csv").write_text("id;name\n1;-\n2;x\n")
    conn = files(tmp_path, csv={"delimiter": ";", "null_values": ["-"]})
    assert rows(conn.read("semi.csv")) == [{"id": 1, "name": None}, {"id": 2, "name": "x"}]


def test_batches_are_bounded(tmp_path):
    (tmp_path / "big.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(10_000)))
    batches = list(files(tmp_path, batch_rows=1_000).read("big.csv"))
    assert sum(b.num_rows for b in batches) == 10_000
    assert max(b.num_rows for b in batches) <= 2_048  # DuckDB rounds up to its vector size


def test_fingerprint_follows_content(tmp_path):
    (tmp_path / "a.csv").write_text("id\n1\n")
    conn = files(tmp_path)
    first = conn.fingerprint("*.csv")
    assert conn.fingerprint("*.csv") == first
    (tmp_path / "a.csv").write_text("id\n2\n")
    assert conn.fingerprint("*.csv") != first


def test_missing_file_and_folder_are_named(tmp_path):
    with pytest.raises(SourceError, match=r"connection 'drops', files 'nope\*.csv': no file matches"):
        files(tmp_path).read("nope*.csv")
    with pytest.raises(SourceError, match="does not exist"):
        files(tmp_path / "gone").read("*.csv")


def test_broken_json_is_named(tmp_path):
    (tmp_path / "bad.json").write_text('{"id": 1,,}')
    with pytest.raises(SourceError, match="connection 'drops', files 'bad.json'"):
        rows(files(tmp_path).read("bad.json"))


def test_nested_column_into_postgres_store_is_named(project):
    """A list column lands in DuckDB as a LIST; PostgreSQL refuses it with the column's name."""
    (project.files / "events.ndjson").write_text('{"id": 1, "tags": ["a", "b"]}\n')
    with Flow("nested") as flow:
        with Stage("raw"):
            sync("files", "events.ndjson")
    report = run_flow(flow)
    if project.instance == "postgres":
        assert not report.ok
        assert isinstance(report.error, StoreWriteError)
        assert "'events'" in str(report.error) and "'tags'" in str(report.error)
    else:
        assert report.ok, report.error
        assert project.read("raw", "events") == [{"id": 1, "tags": ["a", "b"]}]

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

from stagehouse.connectors import FilesConnection, SourceError, connect
from stagehouse.connectors.errors import CsvDialectError, CsvRowError
from stagehouse.connectors.files.csv_checks import BadRows
from stagehouse.connectors.files.csv_wide_integers import CsvValueError
from stagehouse.flows import run_flow
from stagehouse.flows.run_view import report_table
from stagehouse.tasks import StoreWriteError, sync

RAGGED = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n"


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
    pq.write_table(
        pa.table({"id": [4, 5], "when": pa.array([0, 86_400_000_000], pa.timestamp("us"))}), tmp_path / "c.parquet"
    )
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


def write(path: Path, text: str) -> None:
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)


@pytest.mark.parametrize("delimiter", [None, ","])
@pytest.mark.parametrize("file", ["rag.csv", "rag.csv.gz"])
def test_ragged_csv_fails_naming_file_line_and_counts(tmp_path, file, delimiter):
    write(tmp_path / file, RAGGED)
    (tmp_path / "good.csv").write_text("a,b,c\n7,8,9\n")
    conn = files(tmp_path, csv={"delimiter": delimiter} if delimiter else {})
    for pattern in (file, "*"):  # alone, and in a glob with a good file
        with pytest.raises(CsvRowError) as caught:
            rows(conn.read(pattern))
        error = caught.value
        assert (error.connection, error.file, error.line, error.expected, error.found) == ("drops", file, 3, 3, 2)
        assert str(error).splitlines() == [str(error)]
        assert f"connection 'drops', file '{file}': line 3 has 2 fields, the header has 3 fields" in str(error)
        assert "on_bad_rows: skip" in str(error)


def test_bad_row_past_the_sniffer_sample_is_named(tmp_path):
    (tmp_path / "big.csv").write_text("a,b,c\n" + "1,2,3\n" * 30_000 + "1,2,3,4\n")
    with pytest.raises(CsvRowError, match=r"file 'big.csv': line 30002 has 4 fields, the header has 3 fields"):
        rows(files(tmp_path).read("big.csv"))


def test_sniffer_error_names_the_file(tmp_path):
    """With a delimiter set, DuckDB's sniffer fails on a ragged file with 'file ""'."""
    (tmp_path / "a_good.csv").write_text("a,b,c\n7,8,9\n")
    (tmp_path / "b_rag.csv").write_text(RAGGED + "10,11,12\n")
    with pytest.raises(SourceError) as caught:
        rows(files(tmp_path, csv={"delimiter": ","}).read("*.csv"))
    assert 'file ""' not in str(caught.value)
    assert "file 'b_rag.csv'" in str(caught.value)


def test_one_column_with_a_delimiter_in_the_header_is_refused(tmp_path):
    (tmp_path / "semi.csv").write_text("id;name\n1;x\n2;y\n")
    with pytest.raises(
        CsvDialectError, match=r"file 'semi.csv': read as one column 'id;name'.*set csv: \{delimiter: ';'\}"
    ) as caught:
        rows(files(tmp_path, csv={"delimiter": ","}).read("semi.csv"))
    assert (caught.value.file, caught.value.delimiter) == ("semi.csv", ";")
    assert str(caught.value).splitlines() == [str(caught.value)]
    assert rows(files(tmp_path).read("semi.csv")) == [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}]


def test_one_quoted_column_with_a_comma_is_read(tmp_path):
    (tmp_path / "one.csv").write_text('"Amount, EUR"\n1\n2\n')
    assert rows(files(tmp_path).read("one.csv")) == [{"Amount, EUR": 1}, {"Amount, EUR": 2}]


def test_on_bad_rows_skip_counts_per_file(tmp_path):
    write(tmp_path / "a.csv.gz", RAGGED)
    (tmp_path / "b.csv").write_text("a,b,c\n7,8,9\n1,2\n")
    bad = BadRows()
    result = rows(files(tmp_path, csv={"on_bad_rows": "skip"}).read("*", bad_rows=bad, lineage=True))
    assert sorted((r["a"], r["_file"]) for r in result) == [(1, "a.csv.gz"), (7, "b.csv")]
    assert bad.by_file == {"a.csv.gz": 2, "b.csv": 1} and bad.total == 3


def _rates_flow(connection: str, mode: str = "full") -> Flow:
    with Flow("rates") as flow:
        with Stage("raw"):
            if mode == "full":
                sync(connection, "rates.csv")
            else:
                sync(connection, "rates*.csv", name="rates", mode="incremental", cursor="_file")
    return flow


def test_ragged_csv_fails_the_task_and_keeps_the_committed_table(project):
    (project.files / "rates.csv").write_text("a,b,c\n1,2,3\n")
    assert run_flow(_rates_flow("files")).ok
    (project.files / "rates.csv").write_text(RAGGED)
    report = run_flow(_rates_flow("files"))
    assert not report.ok
    assert isinstance(report.error, CsvRowError)
    assert str(report.error) == (
        "connection 'files', file 'rates.csv': line 3 has 2 fields, the header has 3 fields; "
        "fix the file, or set csv: {on_bad_rows: skip} on the connection to skip such rows"
    )
    assert [t.state for t in report.tasks] == ["FAILED"]
    assert project.read("raw", "rates") == [{"a": 1, "b": 2, "c": 3}]


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_on_bad_rows_skip_reports_the_count(project, mode):
    project.add_connection("lenient", {"type": "files", "path": "files", "csv": {"on_bad_rows": "skip"}})
    (project.files / "rates.csv").write_text(RAGGED + "10,11,12\n")
    report = run_flow(_rates_flow("lenient", mode))
    assert report.ok, report.error
    assert [(t.rows, t.skipped_rows) for t in report.tasks] == [(2, 2)]
    assert sorted(r["a"] for r in project.read("raw", "rates")) == [1, 10]
    table = report_table(report)
    assert [c.header for c in table.columns][4] == "bad rows skipped" and list(table.columns[4].cells) == ["2"]


def test_a_whole_number_past_bigint_is_refused_not_rounded_and_types_read_it_whole(tmp_path):
    (tmp_path / "ids.csv").write_text("id,ext_id,score\n1,17,0.5\n2,12345678901234567891,1.5\n3,18,2\n")
    with pytest.raises(CsvValueError) as refused:
        rows(files(tmp_path).read("ids.csv"))
    assert str(refused.value) == (
        "connection 'drops', file 'ids.csv': row 2, field 'ext_id': 12345678901234567891 is a whole number past "
        "BIGINT, and the column was read as DOUBLE, which would round it; set csv: {types: {ext_id: HUGEINT}} "
        "(or VARCHAR) on the connection"
    )
    declared = files(tmp_path, csv={"types": {"ext_id": "HUGEINT"}})
    assert [(r["id"], int(r["ext_id"])) for r in rows(declared.read("ids.csv"))] == [
        (1, 17),
        (2, 12345678901234567891),
        (3, 18),
    ]
    (tmp_path / "ids.csv").write_text("id,amount\n1,9007199254740992\n2,0.25\n")  # 2**53 is exact in a DOUBLE
    assert [r["amount"] for r in rows(files(tmp_path).read("ids.csv"))] == [9007199254740992.0, 0.25]


def test_a_wide_id_file_fails_the_sync_and_keeps_the_committed_table(project):
    (project.files / "rates.csv").write_text("a,b,c\n1,2,3\n")
    assert run_flow(_rates_flow("files")).ok
    (project.files / "rates.csv").write_text("a,b,c\n1,2,3\n4,99999999999999999999,6\n")
    report = run_flow(_rates_flow("files"))
    assert isinstance(report.error, CsvValueError) and "row 2, field 'b'" in str(report.error)
    assert project.read("raw", "rates") == [{"a": 1, "b": 2, "c": 3}]


@pytest.mark.parametrize(
    ("encoding", "problem"),
    [
        ("latin-1", r"it is not UTF-8 \(.*\); set csv: \{encoding: latin-1\} \(or utf-16\) on the connection$"),
        (
            "utf-16",
            r"it is UTF-16 text \(it starts with a UTF-16 mark\); set csv: \{encoding: utf-16\} on the connection$",
        ),
    ],
)
def test_a_csv_file_in_another_encoding_is_named_and_read_with_its_encoding(tmp_path, encoding, problem):
    """A latin-1 file failed with DuckDB's message and no way to read it (csv.encoding was refused);
    a UTF-16 one as a ragged line. Each is named with the setting that reads it, which does."""
    (tmp_path / "names.csv").write_text("id,name\n1,café\n2,Zoë\n", encoding=encoding)
    with pytest.raises(SourceError, match=rf"connection 'drops', file 'names.csv': {problem}"):
        rows(files(tmp_path).read("names.csv"))
    assert rows(files(tmp_path, csv={"encoding": encoding}).read("names.csv")) == [
        {"id": 1, "name": "café"},
        {"id": 2, "name": "Zoë"},
    ]


def test_a_file_bringing_text_into_a_whole_number_column_is_refused_on_both_stores(project, tmp_path):
    """An incremental file sync whose new file holds 'A44' in a bigint column: the PostgreSQL
    store failed with its own EXCEPT error (DatatypeMismatch: the rows re-read at the mark are
    compared with the held ones) while DuckDB named the column; both name the column, the value
    and the fix now, and keep the committed rows."""
    import os

    from stagehouse.tasks.evolution import SchemaConflictError

    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "part_001.csv").write_text("id,code\n1,42\n")
    os.utime(drops / "part_001.csv", (1_700_000_000, 1_700_000_000))
    project.add_connection("drops", {"type": "files", "path": str(drops)})
    with Flow("parts") as flow, Stage("raw"):
        sync("drops", "part_*.csv", name="parts", mode="incremental", cursor="_file_mtime")
    assert (report := run_flow(flow)).ok, report.error
    (drops / "part_002.csv").write_text("id,code\n2,A44\n")

    report = run_flow(flow)
    assert isinstance(report.error, SchemaConflictError), report.error
    assert str(report.error).startswith(
        "connection 'drops', files 'part_*.csv', store table 'parts', column 'code': new rows bring type "
    ), report.error
    assert "first value that does not cast to" in str(report.error) and "'A44'" in str(report.error)
    assert [(r["id"], r["code"]) for r in project.read("raw", "parts")] == [(1, 42)]

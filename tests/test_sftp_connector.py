"""The SFTP connector against a real OpenSSH server: verbs, globs, formats, incremental syncs."""

from __future__ import annotations

import gzip
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydiverse.pipedag import Flow, Stage

from stagehouse.connectors import ConnectionConfigError, SourceError, SourceUnavailableError, connect
from stagehouse.connectors.errors import CsvRowError
from stagehouse.connectors.files.csv_checks import BadRows
from stagehouse.flows import run_flow
from stagehouse.tasks import sync


@pytest.fixture
def drop(tmp_path):
    folder = tmp_path / "outgoing"
    (folder / "2024").mkdir(parents=True)
    (folder / "orders_01.csv").write_text("id,amount\n1,10\n2,20\n")
    (folder / "orders_02.csv").write_text("id,amount\n3,30\n")
    (folder / "2024" / "events.ndjson").write_text('{"id": 1, "kind": "open"}\n')
    pq.write_table(pa.table({"id": [7], "v": [0.5]}), folder / "stats.parquet")
    return folder


def test_dir_and_read_file(sftp_server, drop):
    conn = connect("partner", specs={"partner": sftp_server.spec(drop)})
    listing = conn.dir()
    assert [(e["name"], e["is_dir"]) for e in listing] == [
        ("2024", True),
        ("orders_01.csv", False),
        ("orders_02.csv", False),
        ("stats.parquet", False),
    ]
    assert listing[1]["size"] == len("id,amount\n1,10\n2,20\n")
    assert conn.read_file("orders_02.csv") == b"id,amount\n3,30\n"
    assert conn.read_file("2024/events.ndjson").startswith(b'{"id": 1')


def test_glob_formats_and_subfolders(sftp_server, drop):
    conn = connect("partner", specs={"partner": sftp_server.spec(drop)})
    assert conn.read("orders_*.csv").read_all().to_pylist() == [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": 20},
        {"id": 3, "amount": 30},
    ]
    assert conn.read("2024/*.ndjson").read_all().to_pylist() == [{"id": 1, "kind": "open"}]
    assert conn.read("**/*.ndjson").read_all().num_rows == 1
    assert conn.read("stats.parquet").read_all().to_pylist() == [{"id": 7, "v": 0.5}]
    with pytest.raises(SourceError, match=r"connection 'partner', files 'nope\*': no file matches in folder 'sftp://"):
        conn.read("nope*")


def test_host_key_mismatch_and_bad_credentials_are_named(sftp_server, drop, tmp_path):
    wrong_host = connect(
        "partner",
        specs={
            "partner": sftp_server.spec(
                drop, host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
            )
        },
    )
    with pytest.raises(SourceError, match="host key"):
        wrong_host.dir()
    os.system(f"ssh-keygen -q -t ed25519 -N '' -f {tmp_path / 'other'}")
    wrong_user_key = connect(
        "partner", specs={"partner": sftp_server.spec(drop, private_key_path=str(tmp_path / "other"))}
    )
    with pytest.raises(SourceUnavailableError, match=r"connection 'partner', sftp://.*Authentication"):
        wrong_user_key.dir()
    with pytest.raises(ConnectionConfigError, match="host_key or known_hosts"):
        spec = sftp_server.spec(drop)
        del spec["host_key"]
        connect("partner", specs={"partner": spec})


def mtime_flow() -> Flow:
    """An incremental sync of ``orders_*.csv`` from ``partner`` by the files' modification time."""
    with Flow("sftp_sync") as flow:
        with Stage("raw"):
            sync("partner", "orders_*.csv", name="orders", mode="incremental", cursor="_file_mtime")
    return flow


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_incremental_sync_reads_only_new_files(project, sftp_server, drop):
    project.add_connection("partner", sftp_server.spec(drop))

    old = time.time() - 3600
    for name in ("orders_01.csv", "orders_02.csv"):
        os.utime(drop / name, (old, old))
    assert run_flow(mtime_flow()).ok
    assert sorted(r["_file"] for r in project.read("raw", "orders")) == [
        "orders_01.csv",
        "orders_01.csv",
        "orders_02.csv",
    ]

    (drop / "orders_01.csv").write_text("this file is not read again, or the sync would fail\n\x00\x01")
    os.utime(drop / "orders_01.csv", (old - 60, old - 60))  # before the mark (orders_02's, read again, deduplicated)
    (drop / "orders_03.csv").write_text("id,amount\n4,40\n5,50\n")
    report = run_flow(mtime_flow())
    assert report.ok, report.error
    rows = project.read("raw", "orders", order_by="id")
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[-1]["_file"] == "orders_03.csv"


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_a_file_dropped_after_a_sync_with_the_marks_modification_time_is_read_once(project, sftp_server, drop):
    """SFTP gives modification times in whole seconds: a file that lands after a sync, in the same
    second as the last file synced, has the mark's time. The next run reads it; the file read
    before at the mark is not appended twice."""
    project.add_connection("partner", sftp_server.spec(drop))

    old = int(time.time()) - 3600
    os.utime(drop / "orders_01.csv", (old - 60, old - 60))
    os.utime(drop / "orders_02.csv", (old, old))
    assert (first := run_flow(mtime_flow())).ok, first.error
    (drop / "orders_03.csv").write_text("id,amount\n4,40\n")
    os.utime(drop / "orders_03.csv", (old, old))

    assert (second := run_flow(mtime_flow())).ok, second.error
    rows = project.read("raw", "orders", order_by="id")
    assert [(r["id"], r["_file"]) for r in rows] == [
        (1, "orders_01.csv"),
        (2, "orders_01.csv"),
        (3, "orders_02.csv"),
        (4, "orders_03.csv"),
    ]


def test_ragged_csv_names_the_remote_file(sftp_server, drop):
    with gzip.open(drop / "orders_09.csv.gz", "wt") as fh:
        fh.write("id,amount\n9,90\n10\n")
    conn = connect("partner", specs={"partner": sftp_server.spec(drop)})
    with pytest.raises(
        CsvRowError, match=r"connection 'partner', file 'orders_09.csv.gz': line 3 has 1 field, the header has 2 fields"
    ):
        conn.read("orders_*").read_all()
    lenient = connect("partner", specs={"partner": {**sftp_server.spec(drop), "csv": {"on_bad_rows": "skip"}}})
    bad = BadRows()
    assert sorted(lenient.read("orders_*", bad_rows=bad).read_all().column("id").to_pylist()) == [1, 2, 3, 9]
    assert bad.by_file == {"orders_09.csv.gz": 1}

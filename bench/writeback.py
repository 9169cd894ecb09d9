"""Benchmark: write back 10,000 edits from the change log to a local REST app.

Baseline, in the same run, against the same app and change log: Peliqan's documented loop
(``pq`` data-edits pattern) — for each change one request, then one status update
(``update_change``), one at a time. Stagehouse's
``push_changes`` claims the changes, checks the rows in the app for conflicts (reads Peliqan's loop
does not make: a GET per row, or one GET per 100 rows with the object's ``batch_lookup``), sends
the updates with bounded concurrency and marks statuses in batches.

The app is a stdlib HTTP/1.1 server with keep-alive in a child process (records in memory), so
the client's work is not slowed by the server's share of the GIL; json-server (the tests' app)
writes its whole JSON file on every change and would measure itself. Both runs end with every
change PROCESSED and the app holding every new value (checked).

    .venv/bin/python bench/writeback.py [--edits 10000] [--concurrency 1,8] [--app-latency-ms 0] \
        [--store duckdb|postgres]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import sqlalchemy as sa

from stagehouse.connectors.registry import warehouse
from stagehouse.connectors.rest.config import RestConnectionConfig
from stagehouse.connectors.rest.source import RestConnection
from stagehouse.connectors.sql.changelog import CHANGE_LOG
from stagehouse.connectors.writeback import push_changes

TABLE = "raw.customers"


def serve_app(rows: int, latency: float, port_out) -> None:
    """A REST app with ``/customers/<id>`` (GET, PATCH) and ``/reset``, run in a child process."""
    records = {}

    def reset() -> None:
        records.clear()
        records.update(
            {i: {"id": i, "name": f"customer {i}", "city": "Oslo", "score": i % 100} for i in range(1, rows + 1)}
        )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each response waits for a delayed ACK (~40 ms)
        wbufsize = 1 << 16  # headers and body leave in one write; flushed after each request

        def reply(self, status: int, body: object) -> None:
            time.sleep(latency)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def record(self):
            try:
                return records.get(int(self.path.rsplit("/", 1)[1]))
            except ValueError:
                return None

        def do_GET(self):  # noqa: N802 (stdlib API)
            path, _, query = self.path.partition("?")
            if path == "/customers":
                wanted = [int(v) for v in parse_qs(query).get("id", [])]
                found = [records[i] for i in wanted if i in records] if wanted else list(records.values())
                return self.reply(200, found)
            found = self.record()
            self.reply(200, found) if found else self.reply(404, {})

        def do_PATCH(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            found = self.record()
            if found is None:
                return self.reply(404, {})
            found.update(body)
            self.reply(200, found)

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            reset()
            self.reply(200, {})

        def log_message(self, *args):
            pass

    reset()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.send(server.server_address[1])
    server.serve_forever()


def make_store(url: str, edits: int):
    """The warehouse with ``raw.customers`` and ``edits`` NOT_PROCESSED cell edits (one per row)."""
    wh = warehouse(url)
    wh.write(
        "raw",
        "customers",
        [{"id": i, "name": f"customer {i}", "city": "Oslo", "score": i % 100} for i in range(1, edits + 1)],
        pk="id",
    )
    wh.change_log.append_many(
        (
            {
                "table": TABLE,
                "pk_field": "id",
                "row_pk": i,
                "type": "u",
                "field": "city",
                "old": "Oslo",
                "new": f"city {i}",
            }
            for i in range(1, edits + 1)
        ),
        user="bench",
    )
    return wh


def reset(wh, app_url: str) -> None:
    """Every change NOT_PROCESSED again, the app back to its first records."""
    with wh.engine.begin() as conn:
        conn.execute(sa.update(CHANGE_LOG).values(writeback_status="NOT_PROCESSED", error=None, processed_at=None))
    httpx.post(f"{app_url}/reset")


def check(wh, app_url: str, edits: int) -> None:
    app = {r["id"]: r for r in httpx.get(f"{app_url}/customers").json()}
    assert all(app[i]["city"] == f"city {i}" for i in range(1, edits + 1)), "the app lacks some new values"
    assert len(wh.list_changes(TABLE, writeback_status="PROCESSED")) == edits, "some changes are not PROCESSED"


def peliqan_loop(wh, api: RestConnection) -> None:
    """Peliqan's writeback: one request, then one status update, change after change."""
    for change in wh.list_changes(TABLE, writeback_status="NOT_PROCESSED"):
        try:
            api.update("customers", change["row_pk"], {change["field"]: json.loads(change["new_value"])})
            wh.update_change(change["id"], "PROCESSED")
        except Exception as exc:  # noqa: BLE001 (Peliqan's loop marks any failure)
            wh.update_change(change["id"], "FAILED", str(exc))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=10_000)
    parser.add_argument("--concurrency", default="1,8", help="comma-separated; each is one run of push_changes")
    parser.add_argument("--app-latency-ms", type=float, default=0.0, help="the app waits this long before each answer")
    parser.add_argument("--store", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    receive, send = multiprocessing.Pipe(duplex=False)
    app_process = multiprocessing.Process(
        target=serve_app, args=(args.edits, args.app_latency_ms / 1000, send), daemon=True
    )
    app_process.start()
    app_url = f"http://127.0.0.1:{receive.recv()}"

    def app(batch_lookup: bool, concurrency: int) -> RestConnection:
        obj = {"path": "/customers", **({"batch_lookup": {"param": "id", "max_ids": 100}} if batch_lookup else {})}
        return RestConnection(
            "bench_app",
            RestConnectionConfig(type="rest", base_url=app_url, concurrency=concurrency, objects={"customers": obj}),
            {},
        )

    concurrencies = [int(c) for c in args.concurrency.split(",")]
    runs = [("peliqan", False, 1)] + [(f"{c}/{b}", b, c) for b in (False, True) for c in concurrencies]

    with tempfile.TemporaryDirectory() as tmp:
        if args.store == "duckdb":
            url = f"duckdb:///{Path(tmp) / 'store.duckdb'}"
        else:
            url = args.pg_url
            with sa.create_engine(url).begin() as conn:
                conn.execute(
                    sa.text("DROP SCHEMA IF EXISTS raw CASCADE; DROP SCHEMA IF EXISTS stagehouse_meta CASCADE")
                )
        wh = make_store(url, args.edits)
        seconds = {}
        for label, batch_lookup, concurrency in runs:
            reset(wh, app_url)
            api = app(batch_lookup, concurrency)
            started = time.perf_counter()
            if label == "peliqan":
                peliqan_loop(wh, api)
            else:
                report = push_changes(wh, TABLE, api, "customers", concurrency=concurrency)
                assert report.counts == {"PROCESSED": args.edits}, report.counts
            seconds[label] = time.perf_counter() - started
            check(wh, app_url, args.edits)
            api.close()
        wh.close()
    app_process.terminate()

    baseline = seconds["peliqan"]
    print(
        f"{args.edits:,} edits written back to a local REST app (answers after {args.app_latency_ms:g} ms), change "
        f"log on {args.store}"
    )
    print(
        f"Peliqan loop (request + status update, sequential)   : {baseline:7.2f} s  {args.edits / baseline:>8,.0f} "
        "changes/s"
    )
    for label, batch_lookup, concurrency in runs[1:]:
        ours = seconds[label]
        check_by = "one GET per 100 rows" if batch_lookup else "a GET per row"
        print(
            f"push_changes, concurrency {concurrency:>2}, conflict check {check_by:<20}: {ours:7.2f} s"
            f"  {args.edits / ours:>8,.0f} changes/s = {baseline / ours:5.1f}x (target >= 10x)"
        )


if __name__ == "__main__":
    main()

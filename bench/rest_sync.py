"""Benchmark: 200,000 REST records in pages of 1,000 from a local HTTP server into the DuckDB store.

The ceiling is a plain ``httpx`` loop that only fetches and parses the same pages; the ratio is
Stagehouse's rows/s (a whole ``sync`` flow run, Arrow conversion and store write included) over
the ceiling's, measured in this one run. The server is a threaded stdlib HTTP server on 127.0.0.1
serving precomputed pages, so it is not the bottleneck.

Then the same pages from a server that answers each request in ``--delay-ms`` (20): the total in
an ``X-Total-Count`` header (``total_header``) against the sequential walk without a total (the
baseline: page after page until a short one), ratio printed from this one run.

    .venv/bin/python bench/rest_sync.py [--records 200000] [--page 1000] [--delay-ms 20]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent


def make_pages(records: int, size: int) -> dict[int, bytes]:
    rows = [
        {
            "id": i,
            "name": f"customer {i}",
            "email": f"c{i}@example.com",
            "total": i * 0.25,
            "active": i % 2 == 0,
            "updated_at": f"2024-01-{1 + i % 28:02d}T12:00:00Z",
            "address": {"city": "Oslo", "zip": f"{i % 10000:04d}"},
        }
        for i in range(1, records + 1)
    ]
    pages = {}
    for page in range(1, records // size + 2):
        chunk = rows[(page - 1) * size : page * size]
        pages[page] = json.dumps({"data": chunk, "meta": {"total": records}}).encode()
    return pages


def serve(pages: dict[int, bytes], records: int, delay: float = 0.0) -> ThreadingHTTPServer:
    """Pages with the total in the body (``meta.total``) and in ``X-Total-Count``; each answer
    after ``delay`` seconds."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (stdlib API)
            if delay:
                time.sleep(delay)
            page = int(parse_qs(urlparse(self.path).query).get("page", ["1"])[0])
            body = pages.get(page, b'{"data": [], "meta": {"total": 0}}')
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Total-Count", str(records))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ceiling(url: str, pages: int) -> float:
    started = time.perf_counter()
    rows = 0
    with httpx.Client() as client:
        for page in range(1, pages + 1):
            rows += len(client.get(url, params={"page": page, "per_page": 1000}).json()["data"])
    return time.perf_counter() - started


def stagehouse(url: str, size: int, concurrency: int, total: dict | None = None) -> tuple[float, float]:
    """(seconds of the whole flow run, seconds of the sync task); ``total`` says where the
    pagination finds the record total (default the body's ``meta.total``; ``{}``: nowhere)."""
    from pydiverse.pipedag import Flow, Stage

    from stagehouse.flows import run_flow
    from stagehouse.tasks import sync

    with tempfile.TemporaryDirectory() as tmp:
        document = yaml.safe_load((REPO / "pipedag.yaml").read_text())
        document["instances"]["local"]["instance_id"] = "bench_rest"
        document["instances"]["__any__"]["attrs"]["connections"]["bench_api"] = {
            "type": "rest",
            "base_url": url,
            "concurrency": concurrency,
            "objects": {
                "customers": {
                    "path": "/customers",
                    "records": "data",
                    "pagination": {
                        "style": "page",
                        "size": size,
                        **({"total_path": "meta.total"} if total is None else total),
                    },
                }
            },
        }
        (Path(tmp) / "pipedag.yaml").write_text(yaml.safe_dump(document))
        import os

        os.environ["PIPEDAG_CONFIG"] = str(Path(tmp) / "pipedag.yaml")
        with Flow("bench_rest") as flow:
            with Stage("raw"):
                sync("bench_api", "customers")
        started = time.perf_counter()
        report = run_flow(flow, instance="local")
        assert report.ok, report.error
        return time.perf_counter() - started, report.tasks[0].seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    from stagehouse.flows.config import setup_quiet_logging

    setup_quiet_logging()
    pages = make_pages(args.records, args.page)
    server = serve(pages, args.records)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    page_count = args.records // args.page
    ceiling(f"{url}/customers", 5)  # warm up
    plain = ceiling(f"{url}/customers", page_count)
    print(f"{args.records:,} records, pages of {args.page:,}")
    print(f"plain httpx fetch+parse loop : {plain:6.2f} s  {args.records / plain:>10,.0f} rows/s  (ceiling)")
    for concurrency in (1, 4):
        whole, task = stagehouse(url, args.page, concurrency)
        print(
            f"stagehouse sync, concurrency {concurrency}: task {task:6.2f} s  {args.records / task:>10,.0f} rows/s "
            f"= {plain / task:.0%} of ceiling (whole flow run {whole:.2f} s = {plain / whole:.0%})"
        )
    server.shutdown()

    slow = serve(pages, args.records, args.delay_ms / 1000)
    slow_url = f"http://127.0.0.1:{slow.server_address[1]}"
    print(f"server answering in {args.delay_ms:g} ms a request:")
    _, walk = stagehouse(slow_url, args.page, 4, total={})
    print(
        f"  no total (sequential walk)                 : task {walk:6.2f} s  {args.records / walk:>10,.0f} rows/s  "
        "(baseline)"
    )
    _, header = stagehouse(slow_url, args.page, 4, total={"total_header": "X-Total-Count"})
    print(
        f"  total_header: X-Total-Count, concurrency 4: task {header:6.2f} s  {args.records / header:>10,.0f} rows/s "
        f"= {walk / header:.1f}x the baseline"
    )
    slow.shutdown()


if __name__ == "__main__":
    main()

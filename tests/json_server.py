"""A real third-party REST server for writeback tests: json-server 0.17.4 (npm, tests/node).

Started per test on a free port over a JSON file; every request is logged on its stdout
("POST /customers 201 3.1 ms"), which tests count to prove a change was sent exactly once.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import missing_server

NODE_DIR = Path(__file__).parent / "node"
BIN = NODE_DIR / "node_modules" / ".bin" / "json-server"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JsonServer:
    url: str
    db_file: Path
    log_file: Path

    def records(self, collection: str) -> list[dict]:
        return httpx.get(f"{self.url}/{collection}").json()

    def requests(self, method: str, collection: str) -> list[str]:
        """The request lines the server logged, e.g. all ``POST /customers``."""
        prefix = f"{method} /{collection}"
        lines = ANSI.sub("", self.log_file.read_text()).splitlines()
        return [line.strip() for line in lines if line.strip().startswith(prefix)]

    def logged(self, method: str, collection: str, count: int) -> list[str]:
        """The request lines once at least ``count`` are logged (the log lags the answer a little)."""
        deadline = time.monotonic() + 10
        while len(lines := self.requests(method, collection)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return lines

    def answered(self, method: str, collection: str) -> list[str]:
        """Logged requests the server answered (a status code, not ``-``)."""
        return [line for line in self.requests(method, collection) if line.split()[2] != "-"]

    def aborted(self, method: str, collection: str) -> list[str]:
        """Logged requests whose client went away before the answer (``POST /customers - - ms``):
        a writer killed mid-request. The server may or may not have applied them."""
        return [line for line in self.requests(method, collection) if line.split()[2] == "-"]

    def data(self) -> dict:
        """The app's own data file, as json-server last wrote it."""
        return json.loads(self.db_file.read_text())


@pytest.fixture
def json_server(tmp_path: Path, request):
    """json-server over ``{"customers": [ids 1..5]}``; ``delay_ms`` via indirect param."""
    if not BIN.exists():
        missing_server(f"json-server not installed: run `npm ci --prefix {NODE_DIR}`")
    delay = getattr(request, "param", 0)
    db_file = tmp_path / "db.json"
    db_file.write_text(
        json.dumps({"customers": [{"id": i, "name": f"customer {i}", "city": "Ghent"} for i in range(1, 6)]})
    )
    port = _free_port()
    log_file = tmp_path / "json-server.log"
    args = [str(BIN), str(db_file), "--port", str(port), "--host", "127.0.0.1"]
    if delay:
        args += ["--delay", str(delay)]
    with log_file.open("w") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/customers", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"json-server did not start: {log_file.read_text()[-2000:]}")
    yield JsonServer(url, db_file, log_file)
    process.kill()
    process.wait()


def run_crm_writeback(project, stages: list[str] | None = None):
    """Run the ``crm_writeback`` test flow (sync customers, push their edits) on the project's store."""
    from stagehouse.flows import load_flow, run_flow

    report = run_flow(load_flow("crm_writeback"), stages=stages, instance=project.instance)
    assert report.ok, report.error
    return report


def by_id(rows: list[dict]) -> dict:
    return {r["id"]: r for r in rows}

"""`stagehouse visualize --out` on a machine without Graphviz: drawn by Kroki, and said so.

Kroki here is a real HTTP server in the test process (pytest-httpserver) answering at the path
Kroki serves; PATH holds no `dot`.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import zlib

import pytest
import yaml
from werkzeug import Response

from tests.test_cli import STAGEHOUSE

SVG = '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><text>drawn by kroki</text></svg>'
pytestmark = pytest.mark.parametrize("instance", ["local"], indirect=True)


def visualize(project, *args: str, kroki_url: str) -> subprocess.CompletedProcess:
    no_dot = project.root / "bin"
    no_dot.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": str(no_dot), "STAGEHOUSE_KROKI_URL": kroki_url, "COLUMNS": "200"}
    return subprocess.run(
        [STAGEHOUSE, "visualize", "files_mart", *args],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_without_graphviz_the_svg_comes_from_kroki(project, httpserver):
    asked = []

    def kroki(request):
        asked.append(request.path)
        return Response(SVG, content_type="image/svg+xml")

    httpserver.expect_request(re.compile(r"^/graphviz/svg/.+")).respond_with_handler(kroki)
    server = httpserver.url_for("").rstrip("/")
    shown = visualize(project, "--out", str(project.root / "g.svg"), kroki_url=server)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr.strip() == f"Graphviz not found; rendered with Kroki at {server}"
    assert (project.root / "g.svg").read_text() == SVG
    dot = zlib.decompress(base64.urlsafe_b64decode(asked[0].rpartition("/")[2])).decode()
    assert "sync_orders" in dot and "revenue_by_name" in dot


def test_unreachable_kroki_fails_with_one_line_naming_the_fix(project):
    server = f"http://127.0.0.1:{closed_port()}"
    failed = visualize(project, "--out", str(project.root / "g.svg"), kroki_url=server)
    assert failed.returncode == 1
    [line] = failed.stderr.strip().splitlines()
    assert line.startswith(f"Error: Graphviz not found and Kroki at {server} did not answer (")
    assert line.endswith("install Graphviz (apt-get install graphviz) or set STAGEHOUSE_KROKI_URL to a Kroki server")
    assert not (project.root / "g.svg").exists()


def test_disabled_kroki_fails_with_one_line_naming_the_fix(project):
    document = yaml.safe_load(project.config_file.read_text())
    document["instances"]["__any__"]["disable_kroki"] = True
    project.config_file.write_text(yaml.safe_dump(document))
    failed = visualize(project, "--out", str(project.root / "g.svg"), kroki_url="http://unused.invalid")
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        "Error: Graphviz not found and Kroki is disabled (disable_kroki in pipedag.yaml); "
        "install Graphviz (apt-get install graphviz) or set STAGEHOUSE_KROKI_URL to a Kroki server"
    )

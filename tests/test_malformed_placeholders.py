"""A placeholder typo in pipedag.yaml is refused by `stagehouse check`, not used literally."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagehouse.connectors import ConnectionConfigError, connect
from tests.test_check import stagehouse, write_project


def test_a_malformed_placeholder_fails_check_naming_the_key_the_placeholder_and_the_right_form(tmp_path: Path):
    write_project(tmp_path, {"drops": {"type": "files", "path": "drops"}}, {})
    config = tmp_path / "pipedag.yaml"
    good = config.read_text()
    config.write_text(
        good.replace("{$STAGEHOUSE_KROKI_URL:-https://kroki.io}", "{$STAGEHOUSE_KROKI_URL:https://kroki.io}")
    )

    checked = stagehouse("check", root=tmp_path)
    assert checked.returncode == 1, checked.stdout
    problems = [line for line in checked.stdout.splitlines() if line.startswith("problem: ")]
    assert problems == [
        "problem: pipedag.yaml instances.__any__.kroki_url: placeholder '{$STAGEHOUSE_KROKI_URL:https://kroki.io}' is "
        "malformed; "
        "write {$VAR} or {$VAR:-default}"
    ], checked.stdout

    config.write_text(good.replace("path: drops", "path: '{$DROPS_DIR:drops}'"))
    checked = stagehouse("check", root=tmp_path)
    problems = [line for line in checked.stdout.splitlines() if line.startswith("problem: ")]
    assert problems == [
        "problem: pipedag.yaml instances.__any__.attrs.connections.drops.path: placeholder '{$DROPS_DIR:drops}' is "
        "malformed; "
        "write {$VAR} or {$VAR:-default}"
    ], checked.stdout
    config.write_text(good)
    assert stagehouse("check", root=tmp_path).returncode == 0


def test_connect_refuses_a_malformed_placeholder_in_a_connection(tmp_path: Path, monkeypatch):
    write_project(tmp_path, {"drops": {"type": "files", "path": "{$DROPS_DIR:drops}"}}, {})
    monkeypatch.setenv("PIPEDAG_CONFIG", str(tmp_path / "pipedag.yaml"))
    with pytest.raises(ConnectionConfigError) as refused:
        connect("drops")
    assert str(refused.value) == (
        "connection 'drops': placeholder '{$DROPS_DIR:drops}' is malformed; write {$VAR} or {$VAR:-default} "
        "(pipedag.yaml attrs.connections.drops)"
    )

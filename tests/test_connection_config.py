"""Named connections: declared in pipedag.yaml, validated, secrets only from the environment."""

from __future__ import annotations

import pytest

from stagehouse.connectors import ConnectionConfigError, SqlConnection, connect
from stagehouse.connectors.settings import connection_specs


def test_unknown_name_lists_known_ones():
    with pytest.raises(ConnectionConfigError, match=r"connection 'crm': not declared .*known: a, b"):
        connect("crm", specs={"a": {"type": "files", "path": "."}, "b": {"type": "files", "path": "."}})


def test_unknown_type_and_missing_type():
    with pytest.raises(ConnectionConfigError, match=r"connection 'x': unknown type 'ftp', use one of: sql, files"):
        connect("x", specs={"x": {"type": "ftp"}})
    with pytest.raises(ConnectionConfigError, match="needs a 'type' field"):
        connect("x", specs={"x": {"url": "sqlite://"}})


def test_wrong_and_missing_fields_are_named():
    with pytest.raises(ConnectionConfigError, match=r"field 'url': Field required"):
        connect("db", specs={"db": {"type": "sql"}})
    with pytest.raises(ConnectionConfigError, match=r"field 'batch_rows'"):
        connect("db", specs={"db": {"type": "sql", "url": "sqlite://", "batch_rows": -1}})
    with pytest.raises(ConnectionConfigError, match=r"field 'passwrd': Extra inputs are not permitted"):
        connect("db", specs={"db": {"type": "sql", "url": "sqlite://", "passwrd": "x"}})


def test_password_written_in_file_is_refused():
    with pytest.raises(ConnectionConfigError, match="password is written in the file"):
        connect("db", specs={"db": {"type": "sql", "url": "postgresql://app:s3cret@db/x"}})


def test_missing_environment_variable_is_named(monkeypatch):
    monkeypatch.delenv("SH_MISSING_PW", raising=False)
    with pytest.raises(ConnectionConfigError, match="connection 'db': environment variable SH_MISSING_PW is not set"):
        connect("db", specs={"db": {"type": "sql", "url": "postgresql://app:{$SH_MISSING_PW}@db/x"}})


def test_placeholders_resolve_with_defaults(monkeypatch):
    monkeypatch.setenv("SH_PW", "pa:ss")
    monkeypatch.delenv("SH_HOST", raising=False)
    conn = connect("db", specs={"db": {"type": "sql", "url": "postgresql://app:{$SH_PW}@{$SH_HOST:-db.local}/x"}})
    assert isinstance(conn, SqlConnection)
    assert conn.url.host == "db.local" and conn.url.password == "pa:ss"
    assert "pa:ss" not in conn.display_url and "pa:ss" not in repr(conn)


def test_connections_merge_any_with_instance(tmp_path, monkeypatch):
    (tmp_path / "pipedag.yaml").write_text(
        """
instances:
  __any__:
    attrs:
      connections:
        shop: {type: sql, url: "sqlite:///any.db"}
        drops: {type: files, path: drops}
  prod:
    attrs:
      connections:
        shop: {type: sql, url: "sqlite:///prod.db"}
"""
    )
    monkeypatch.setenv("PIPEDAG_CONFIG", str(tmp_path))
    specs, base = connection_specs("prod")
    assert specs["shop"]["url"] == "sqlite:///prod.db" and specs["drops"]["path"] == "drops"
    assert base == tmp_path
    assert connect("drops", instance="prod").folder == tmp_path / "drops"
    assert connect("shop", instance="prod").url.database == "prod.db"

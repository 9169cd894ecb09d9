"""The dialect registry: one adapter per dialect name, the portable one for the rest."""

import dataclasses

import pytest
import sqlalchemy as sa

from stagehouse.connectors.sql.dialects import SqlDialect, bulk_dialects, dialect_named, dialect_of
from stagehouse.connectors.sql.dialects.duckdb import DuckDBDialect
from stagehouse.connectors.sql.dialects.mysql import MariaDBDialect


def test_each_dialect_name_finds_its_adapter():
    assert isinstance(dialect_named("duckdb"), DuckDBDialect)
    assert isinstance(dialect_named("mariadb"), MariaDBDialect)
    assert dialect_of(sa.create_engine("sqlite://")).capabilities.file_database


def test_a_dialect_without_a_module_gets_the_portable_behaviour_under_its_name():
    adapter = dialect_named("mssql")
    assert type(adapter) is SqlDialect and adapter.name == "mssql"
    assert adapter.capabilities.bulk_load is None and adapter.capabilities.renameable_keyed_tables


def test_bulk_dialects_are_those_with_a_bulk_path():
    assert bulk_dialects() == ["duckdb", "postgresql"]


def test_capabilities_cannot_be_changed_at_run_time():
    with pytest.raises(dataclasses.FrozenInstanceError):
        dialect_named("duckdb").capabilities.bulk_load = None

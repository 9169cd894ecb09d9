"""``{$NAME}`` and ``{$NAME:-default}`` in configuration strings."""

from __future__ import annotations

import pytest

from stagehouse.connectors.placeholders import MissingEnvironmentVariable, expand, is_placeholder


def test_a_set_variable_replaces_its_placeholder_wherever_it_stands():
    env = {"PGPASSWORD": "s3cret", "PGDB": "crm"}
    assert expand("postgresql://app:{$PGPASSWORD}@db/{$PGDB}", env) == "postgresql://app:s3cret@db/crm"


@pytest.mark.parametrize(
    ("text", "env", "expanded"),
    [
        ("{$X:-a b}", {}, "a b"),  # the default, spaces and all
        ("{$X:-a b}", {"X": "set"}, "set"),  # a set variable wins over the default
        ("{$X:-a b}", {"X": ""}, ""),  # set but empty is still set
        ("{$X:-}", {}, ""),  # an empty default
        ("db/{$X:-test}?ssl={$Y:-off}", {"Y": "on"}, "db/test?ssl=on"),
        ("no placeholders, $X or {X}", {}, "no placeholders, $X or {X}"),
    ],
)
def test_a_default_applies_only_when_the_variable_is_unset(text, env, expanded):
    assert expand(text, env) == expanded


def test_an_unset_variable_without_default_is_named_in_the_error():
    with pytest.raises(MissingEnvironmentVariable) as missing:
        expand("token {$CRM_TOKEN}", {})
    assert missing.value.name == "CRM_TOKEN"


def test_the_process_environment_is_read_when_none_is_given(monkeypatch):
    monkeypatch.setenv("STAGEHOUSE_UNIT_X", "from env")
    monkeypatch.delenv("STAGEHOUSE_UNIT_Y", raising=False)
    assert expand("{$STAGEHOUSE_UNIT_X}/{$STAGEHOUSE_UNIT_Y:-fallback}") == "from env/fallback"


@pytest.mark.parametrize(
    ("text", "is_one"),
    [
        ("{$TOKEN}", True),
        ("{$TOKEN:-dev}", True),
        ("Bearer {$TOKEN}", False),
        ("s3cret", False),
        ("{$1X}", False),
    ],
)
def test_a_secret_must_be_exactly_one_placeholder(text, is_one):
    assert is_placeholder(text) is is_one

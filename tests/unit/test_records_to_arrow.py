"""JSON records become Arrow tables the way an object's ``nested``/``lists`` settings say."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from stagehouse.connectors.rest.records import conform, to_table

RECORDS = [
    {"id": 1, "owner": {"name": "ada", "address": {"city": "Ghent"}}, "tags": ["a", "b"]},
    {"id": 2, "owner": None, "tags": []},
]


def test_nested_objects_flatten_into_double_underscore_columns_and_lists_become_json_text():
    table = to_table(RECORDS, nested="flatten", lists="json")
    assert table.column_names == ["id", "owner__name", "owner__address__city", "tags"]
    assert table.column("owner__address__city").to_pylist() == ["Ghent", None]
    assert [json.loads(t) for t in table.column("tags").to_pylist()] == [["a", "b"], []]


def test_nested_objects_can_stay_one_json_column():
    table = to_table(RECORDS, nested="json", lists="json")
    assert table.column_names == ["id", "owner", "tags"]
    owner = table.column("owner").to_pylist()
    assert json.loads(owner[0]) == {"name": "ada", "address": {"city": "Ghent"}} and owner[1] is None


def test_lists_can_stay_arrow_lists():
    table = to_table(RECORDS, nested="flatten", lists="keep")
    assert pa.types.is_list(table.schema.field("tags").type)
    assert table.column("tags").to_pylist() == [["a", "b"], []]


def test_an_arrow_struct_array_converts_like_the_same_dicts():
    from_arrow = to_table(pa.array(RECORDS), nested="flatten", lists="json")
    assert from_arrow.equals(to_table(RECORDS, nested="flatten", lists="json"))


def test_records_that_are_not_objects_are_refused():
    with pytest.raises(pa.ArrowInvalid, match="records are int64, not objects"):
        to_table(pa.array([1, 2]), nested="flatten", lists="json")


def test_conform_orders_casts_and_fills_missing_columns_with_nulls():
    schema = pa.schema([("id", pa.float64()), ("name", pa.string()), ("city", pa.string())])
    table = conform(pa.table({"name": ["ada"], "id": [1]}), schema)
    assert table.schema == schema and table.to_pylist() == [{"id": 1.0, "name": "ada", "city": None}]

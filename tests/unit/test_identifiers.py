"""One way to split a dotted table name: the name is the last part, the schema all before it."""

import pytest

from stagehouse.connectors.errors import UnsafeIdentifierError
from stagehouse.connectors.sql.identifiers import checked_table, quoted_name, split_table


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("orders", (None, "orders")),
        ("raw.orders", ("raw", "orders")),
        ("db.raw.orders", ("db.raw", "orders")),
    ],
)
def test_split_table_takes_the_name_after_the_last_dot(table, expected):
    assert split_table(table) == expected


def test_split_table_keeps_a_given_schema_for_a_bare_name():
    assert split_table("orders", "raw") == ("raw", "orders")


def test_checked_table_checks_each_part():
    assert checked_table("shop", "raw.orders") == ("raw", "orders")
    assert checked_table("shop", "orders", "raw") == ("raw", "orders")
    with pytest.raises(UnsafeIdentifierError):
        checked_table("shop", "db.raw.orders")  # the schema 'db.raw' is not one plain name
    with pytest.raises(UnsafeIdentifierError):
        checked_table("shop", "raw.orders", "raw")  # with a schema given, the table is the whole name


def test_quoted_name_quotes_each_part_for_the_dialect():
    import sqlalchemy as sa

    engine = sa.create_engine("sqlite://")
    assert quoted_name(engine, "raw", "select") == 'raw."select"'
    assert quoted_name(engine, None, "orders") == "orders"

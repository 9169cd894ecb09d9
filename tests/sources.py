"""Helpers that write test source data."""

from __future__ import annotations

from pathlib import Path

ORDERS = [(1, 10, 5), (2, 10, 7), (3, 20, 11)]
CUSTOMERS = [(10, "ada"), (20, "bob")]


def write_csv(path: Path, header: str, rows: list[tuple]) -> None:
    path.write_text(header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows))


def write_shop(folder: Path, orders: list[tuple] = ORDERS, customers: list[tuple] | None = CUSTOMERS) -> None:
    """orders.csv (order_id, customer_id, amount) and customers.csv (id, name); None leaves it out."""
    write_csv(folder / "orders.csv", "order_id,customer_id,amount", orders)
    if customers is not None:
        write_csv(folder / "customers.csv", "id,name", customers)

"""Example: orders from seeds/orders.csv into revenue by customer.

Stage ``raw`` syncs the CSV file; stage ``mart`` sums it up in SQL. Copy this module to start a
flow of your own: any module in flows/ that defines ``build_flow()`` is a flow::

    stagehouse run example
"""

from pydiverse.pipedag import Flow, Stage

from stagehouse import sql_transform, sync

SCHEDULE = "0 6 * * *"  # `stagehouse run --due` (the CI workflow's cron) runs it daily at 06:00 UTC


@sql_transform(primary_key="customer")
def revenue_by_customer(orders):
    return f"""
        SELECT customer, count(*) AS orders, sum(amount) AS revenue
        FROM {orders}
        GROUP BY customer
    """


def build_flow() -> Flow:
    with Flow("example") as flow:
        with Stage("raw"):
            orders = sync("seeds", "orders.csv", primary_key="order_id")
        with Stage("mart"):
            revenue_by_customer(orders)
    return flow

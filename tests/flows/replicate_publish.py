"""Test flow: sync a PostgreSQL table into the store, publish it back to PostgreSQL, and mirror
the source into the store incrementally. Schemas come from $REPLICATE_TEST_SCHEMA."""

import os

from pydiverse.pipedag import Flow, Stage

from stagehouse.tasks import replicate, sync


def build_flow():
    schema = os.environ["REPLICATE_TEST_SCHEMA"]
    with Flow("replicate_publish") as flow:
        with Stage("raw"):
            items = sync("pg", f"{schema}.items", primary_key="id")
        with Stage("publish"):
            replicate(items, "pg", f"{schema}_published", pk="id")
            replicate(f"pg:{schema}.items", "warehouse", "mirror", incremental_field="updated_at", pk="id")
    return flow

"""A partition that fails is one line naming the source, the partition, its range and where it ran,
and crosses a process boundary whole (a cluster's worker sends it back pickled)."""

from __future__ import annotations

import pickle

import pytest

from stagehouse.connectors.sql.partition_jobs import CopyRange, PartitionError, run_jobs
from stagehouse.connectors.sql.partitioned import KeyRange


def _unreachable():
    raise OSError('could not connect to server "db.internal"\nis it running?')


def test_a_failed_partition_is_its_own_line_and_pickles():
    jobs = [
        CopyRange(_unreachable, "connection 'shop', table 'public.events'", "public.events", None, part, i, 2, "", "t")
        for i, part in enumerate([KeyRange("id", None, 11), KeyRange("id", 11, None)])
    ]
    with pytest.raises(PartitionError) as raised:
        run_jobs(jobs)
    error = pickle.loads(pickle.dumps(raised.value))
    assert str(error) == (
        "connection 'shop', table 'public.events': partition 1/2 (id ..10 and NULL) failed on thread partition-1 "
        f'(pid {error.where.split("pid ")[1]}: could not connect to server "db.internal"; nothing of the stage was '
        "committed: fix the cause and run the flow again"
    )
    assert (error.partition, error.partitions, error.key_range) == (1, 2, "id ..10 and NULL")

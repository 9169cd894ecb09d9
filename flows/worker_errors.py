"""Errors of runs whose tasks execute in Dask workers (the ``dask`` and ``cluster`` instances).

Example::

    raise WorkerLostError("sync_orders", "tcp://10.0.0.5:8786")
    # task 'sync_orders' was running on a Dask worker that died (killed or out of memory) ...
"""

from __future__ import annotations

from stagehouse.connectors.errors import StagehouseError


class WorkerTaskError(StagehouseError):
    """A task failed on a Dask worker with an error that cannot cross processes; its type and first line."""


class WorkerLostError(StagehouseError):
    """The worker running a task died; the scheduler's second attempt is refused, since pipedag
    cannot run a task twice in one run (the retry would wait for the first attempt forever)."""

    def __init__(self, task: str, scheduler: str) -> None:
        super().__init__(
            f"task '{task}' was running on a Dask worker of {scheduler} that died (killed or out of memory); "
            "nothing of its stage was committed: run the flow again",
            task=task,
            scheduler=scheduler,
        )


class ClusterUnreachableError(StagehouseError):
    """The ``cluster`` instance's scheduler did not answer (or the instance names none): the
    instance, the address and the fix, so ``stagehouse check --connect`` and a run say the same.

    Example: ``ClusterUnreachableError("tcp://10.0.4.2:8786", "Timed out", instance="cluster")``
    → ``Dask scheduler of instance 'cluster' (tcp://10.0.4.2:8786): Timed out; start it, or set …``
    """

    scheduler: str  # set from the fields
    problem: str
    fix: str

    def __init__(self, scheduler: str, problem: str, instance: str = "", variable: str = "DASK_SCHEDULER") -> None:
        fix = ("start the scheduler, or " if scheduler else "") + f"set {variable}=tcp://host:8786"
        where = f"Dask scheduler of instance '{instance}'" if instance else "Dask scheduler"
        super().__init__(
            f"{where} ({scheduler or 'empty address'}): {problem}; {fix}",
            scheduler=scheduler,
            problem=problem,
            instance=instance,
            variable=variable,
            fix=fix,
        )


class SchedulerLostError(StagehouseError):
    """The ``cluster`` instance's scheduler went away while the run's tasks were on it."""

    def __init__(self, scheduler: str, problem: str) -> None:
        super().__init__(
            f"Dask scheduler {scheduler} was lost during the run ({problem}); nothing of the running stages was "
            "committed: start the scheduler again and run the flow again",
            scheduler=scheduler,
            problem=problem,
        )

"""The ``cluster`` instance's engine: a flow's tasks on a ``dask.distributed`` cluster you run.

The same task graph as the ``dask`` instance (``flows.dask_engine``), computed by the
scheduler at ``address`` instead of local processes. Each worker reaches what a task touches
itself: the PostgreSQL table store and its database locks, the blob store's folder, the source
systems, and pipedag's run-context server in the runner's process, which listens on the
instance's ``network_interface`` (``$STAGEHOUSE_RUN_CONTEXT_HOST``; docs/scale.md).

A worker that dies mid-task fails the run with ``WorkerLostError``: distributed's scheduler
would run the task again elsewhere, but pipedag cannot run a task twice in one run (the second
attempt waits forever for the first one's result), so each task's first attempt claims it in
the scheduler's metadata and a second attempt finds it claimed and raises. The stage stays
uncommitted (its last committed tables are untouched); the next run starts it afresh.

Example (pipedag.yaml)::

    orchestration:
      class: "stagehouse.flows.cluster_engine.ClusterEngine"
      args: {address: "{$DASK_SCHEDULER}"}
"""

from __future__ import annotations

from pydiverse.pipedag.context import ConfigContext, FinalTaskState, RunContext
from pydiverse.pipedag.core import Task

from stagehouse.connectors.errors import first_line
from stagehouse.connectors.extras import require
from stagehouse.flows.dask_engine import DaskEngine
from stagehouse.flows.dask_extra import distributed
from stagehouse.flows.worker_errors import ClusterUnreachableError, SchedulerLostError, WorkerLostError
from stagehouse.flows.worker_task import ran_before_failing, report

require(distributed)  # this module is the cluster engine: without the dask extra, say so when pipedag loads it

CLAIMS = "stagehouse-claims"  # scheduler metadata: run id -> task id -> claimed


class FirstAttempt:
    """Called by the worker before a task runs: claims the task for this run in the scheduler's
    metadata, or raises ``WorkerLostError`` when an earlier attempt claimed it (its worker died)."""

    def __init__(self, run: str, task_id: int, task: str, scheduler: str) -> None:
        self.run, self.task_id, self.task, self.scheduler = run, task_id, task, scheduler

    def __call__(self) -> None:
        client = distributed.get_client()
        key = [CLAIMS, self.run, str(self.task_id)]
        if client.get_metadata(key, default=None) is not None:
            raise WorkerLostError(self.task, self.scheduler)
        client.set_metadata(key, True)


class ClusterEngine(DaskEngine):
    """Runs each stage's tasks on the Dask scheduler at ``address`` (``tcp://host:8786``).

    ``connect_timeout`` (seconds) bounds the wait for the scheduler. A task that fails fails the
    run once the tasks that do not depend on it have ended too (none is left calling a closed
    run context), as the sequential engine runs them.
    """

    def __init__(self, address: str, connect_timeout: float = 10, **dask_compute_kwargs) -> None:
        super().__init__(**dask_compute_kwargs)
        self.address = address
        self.connect_timeout = connect_timeout

    def claim(self, task: Task, run_context: RunContext) -> FirstAttempt:
        return FirstAttempt(run_context.run_id, task._id, task._name, self.address)

    def compute(self, results: dict) -> tuple[dict, BaseException | None]:
        """The values of the tasks that finished and the first failed task's error; that task is
        FAILED in the run (also when it failed before pipedag ran it: a refused second attempt),
        with the seconds and log lines it had on its worker."""
        client = self._client()
        tasks = list(results)
        try:
            try:
                futures = client.compute([results[task] for task in tasks], optimize_graph=False)
                with client.as_current():
                    distributed.wait(futures)  # a failure fails its dependents at once; the others end
                finished = [(t, f) for t, f in zip(tasks, futures, strict=True) if f.status == "finished"]
                values = dict(zip([t for t, _ in finished], client.gather([f for _, f in finished]), strict=True))
                errors = [(t, f.exception()) for t, f in zip(tasks, futures, strict=True) if f.status == "error"]
            except (
                OSError,
                distributed.comm.CommClosedError,
            ) as exc:  # the scheduler's; a task's error is its future's
                raise SchedulerLostError(self.address, first_line(exc) or type(exc).__name__) from None
            if not errors:
                return values, None
            states = RunContext.get().get_task_states()
            for task, error in errors:  # the tasks that raised themselves, not their dependents
                ran = ran_before_failing(error, task._name)
                if ran is None and not isinstance(error, distributed.KilledWorker):
                    continue
                if states[task] == FinalTaskState.UNKNOWN:  # it failed before pipedag could say so
                    RunContext.get().did_finish_task(task, FinalTaskState.FAILED)
                report(task, ran)
            return values, self._error(*errors[0])
        finally:
            self._release(client)

    def _release(self, client) -> None:
        """Drop the run's claims (nothing of it is left running) and close the client; a lost
        scheduler has neither to give back."""
        try:
            client.set_metadata([CLAIMS, RunContext.get().run_id], None)
        except (OSError, distributed.comm.CommClosedError):
            pass
        finally:
            client.close()

    def _error(self, task: Task, error: BaseException) -> BaseException:
        if isinstance(error, distributed.KilledWorker):  # a scheduler allowing no retry (allowed-failures: 0)
            return WorkerLostError(task._name, self.address)
        return error

    def _client(self):
        instance = _instance_name()
        if not self.address:
            raise ClusterUnreachableError("", "no scheduler address in orchestration.args.address", instance)
        try:
            return distributed.Client(self.address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterUnreachableError(self.address, first_line(exc), instance) from None


def _instance_name() -> str:
    """The running instance's name for the error's line ("" for an engine used outside a run)."""
    try:
        return ConfigContext.get().instance_name
    except LookupError:
        return ""

"""pipedag's DaskEngine, made to run stage subsets and to report a worker's error as itself.

Two failures of pipedag 0.12.15's ``DaskEngine`` (``pydiverse/pipedag/engine/dask.py``):

- ``stagehouse run F --stage mart`` on Dask ended in ``BrokenProcessPool``. A task whose input
  comes from a stage outside the selection loads that input from the cache in
  ``MaterializingTask._do_run`` with ``ConfigContext.get()`` *before* ``Task._do_run`` enters the
  config context the engine handed over; in a worker process no context is entered yet, so
  ``LookupError: <ContextVar name='config_context'>``. Here the worker enters the run and config
  contexts before calling the task.
- That ``LookupError`` holds the ContextVar, which cannot be pickled, so the worker could not
  send the error back and the pool broke. Here an error that does not survive pickling is sent
  as a ``WorkerTaskError`` carrying its type and first line (Stagehouse's own errors pickle
  whole: ``StagehouseError.__reduce__``).

Each task also sends back its seconds and log lines (``flows.worker_task``), so the run history
shows them as on the sequential instance. ``flows.cluster_engine`` runs the same graph on a
``distributed`` cluster.

Use it in pipedag.yaml: ``orchestration: {class: "stagehouse.flows.dask_engine.DaskEngine", args: {num_workers: 2}}``.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog
from pydiverse.pipedag import ExternalTableReference, Table
from pydiverse.pipedag.context import ConfigContext, RunContext
from pydiverse.pipedag.core import Result, Subflow, Task
from pydiverse.pipedag.engine.dask import DaskEngine as PipedagDaskEngine

from stagehouse.connectors.extras import require
from stagehouse.flows.catalog import private_packages
from stagehouse.flows.dask_extra import cloudpickle, dask
from stagehouse.flows.worker_errors import WorkerTaskError
from stagehouse.flows.worker_task import report, run_task, sendable

require(dask, cloudpickle)  # this module is the Dask engine: without the dask extra, say so when pipedag loads it

__all__ = ["DaskEngine", "WorkerTaskError", "sendable"]


class DaskEngine(PipedagDaskEngine):
    """pipedag's DaskEngine (same arguments); workers enter the run's contexts before the task runs."""

    def claim(self, task: Task, run_context: RunContext):
        """What a worker calls before the task runs, to refuse a second attempt; None here (local
        processes are not retried: a dead one breaks the pool)."""
        return None

    def compute(self, results: dict) -> tuple[dict, BaseException | None]:
        """The values of the graph's tasks that finished, and the error that failed it (None:
        every task finished). Local processes give all values or none; ``flows.cluster_engine``
        computes on a cluster, where the tasks beside a failed one still bring theirs."""
        try:
            return dask.compute(results, **self.dask_compute_kwargs)[0], None
        except Exception as exc:  # noqa: BLE001 (the run's error, reported as pipedag's Result)
            return {}, exc

    def run(
        self,
        flow: Subflow,
        ignore_position_hashes: bool = False,
        inputs: dict[Task, ExternalTableReference] | None = None,
        **run_kwargs,
    ):
        # pipedag's DaskEngine.run, with ``bind_run`` changed (flows.worker_task.run_task) and the values reported back
        inputs = inputs if inputs is not None else {}
        for package in private_packages():  # a project's flow modules: workers cannot import them
            cloudpickle.register_pickle_by_value(package)
        run_context = RunContext.get()
        config_context = ConfigContext.get()
        level = logging.getLogger().getEffectiveLevel()
        results: dict[Task, Any] = {}
        exception = None

        def bind_run(t: Task):
            def run(parent_futures, **kwargs):
                return run_task(t, level, claim, structlog_config, structlog_context, **kwargs)

            claim = self.claim(t, run_context)
            structlog_config = structlog.get_config()
            structlog_context = structlog.contextvars.get_contextvars()
            run.__name__ = t._name
            return dask.delayed(run, pure=False)

        for task in flow.get_tasks():
            task_inputs = {
                **{
                    in_id: results[in_t]
                    for in_id, in_t in task._input_tasks.items()
                    if in_t in results and in_t not in inputs
                },
                **{in_id: Table(inputs[in_t]) for in_id, in_t in task._input_tasks.items() if in_t in inputs},
            }
            results[task] = bind_run(task)(
                parent_futures=[results[parent] for parent in flow.get_parent_tasks(task)],
                inputs=task_inputs,
                run_context=run_context,
                config_context=config_context,
            )

        values, exception = self.compute(results)
        if exception is not None and config_context.fail_fast:
            raise exception
        values = {task: report(task, ran) for task, ran in values.items()}
        results = {task: values.get(task) for task in results}  # None: no value came back (not a graph node)

        return Result.init_from(
            subflow=flow, underlying=results, successful=(exception is None), task_values=results, exception=exception
        )

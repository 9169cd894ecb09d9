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

Use it in pipedag.yaml: ``orchestration: {class: "stagehouse.flows.dask_engine.DaskEngine", args: {num_workers: 2}}``.
"""

from __future__ import annotations

import structlog
from pydiverse.pipedag import ExternalTableReference, Table
from pydiverse.pipedag.context import ConfigContext, RunContext
from pydiverse.pipedag.core import Result, Subflow, Task
from pydiverse.pipedag.engine.dask import DaskEngine as PipedagDaskEngine

from stagehouse.connectors.errors import StagehouseError, first_line
from stagehouse.connectors.extras import require
from stagehouse.flows.catalog import private_packages
from stagehouse.flows.dask_extra import cloudpickle, dask

require(dask, cloudpickle)  # this module is the Dask engine: without the dask extra, say so when pipedag loads it


class WorkerTaskError(StagehouseError):
    """A task failed on a Dask worker with an error that cannot cross processes; its type and first line."""


def sendable(exc: BaseException, task: str) -> BaseException:
    """``exc`` if it survives pickling (so the runner gets it whole), else a ``WorkerTaskError`` naming it."""
    try:
        cloudpickle.loads(cloudpickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 (whatever fails to pickle or unpickle: send its text instead)
        return WorkerTaskError(f"task '{task}' failed: {type(exc).__name__}: {first_line(exc)}", task=task, error_type=type(exc).__name__)


class DaskEngine(PipedagDaskEngine):
    """pipedag's DaskEngine (same arguments); workers enter the run's contexts before the task runs."""

    def run(self, flow: Subflow, ignore_position_hashes: bool = False, inputs: dict[Task, ExternalTableReference] | None = None, **run_kwargs):
        # pipedag's DaskEngine.run, with ``bind_run`` changed (contexts entered, errors made sendable)
        inputs = inputs if inputs is not None else {}
        for package in private_packages():  # a project's flow modules: workers cannot import them
            cloudpickle.register_pickle_by_value(package)
        run_context = RunContext.get()
        config_context = ConfigContext.get()
        results = {}
        exception = None

        def bind_run(t: Task):
            structlog_config = structlog.get_config()
            structlog_context = structlog.contextvars.get_contextvars()

            def run(parent_futures, **kwargs):
                structlog_config["logger_factory"] = structlog.stdlib.LoggerFactory()
                structlog.configure(**structlog_config)
                with structlog.contextvars.bound_contextvars(**structlog_context), kwargs["run_context"], kwargs["config_context"]:
                    try:
                        return t._do_run(**kwargs)
                    except Exception as exc:
                        raise sendable(exc, t._name) from None

            run.__name__ = t._name
            return dask.delayed(run, pure=False)

        for task in flow.get_tasks():
            task_inputs = {
                **{in_id: results[in_t] for in_id, in_t in task._input_tasks.items() if in_t in results and in_t not in inputs},
                **{in_id: Table(inputs[in_t]) for in_id, in_t in task._input_tasks.items() if in_t in inputs},
            }
            results[task] = bind_run(task)(
                parent_futures=[results[parent] for parent in flow.get_parent_tasks(task)],
                inputs=task_inputs,
                run_context=run_context,
                config_context=config_context,
            )

        try:
            results = dask.compute(results, **self.dask_compute_kwargs)[0]
        except Exception as exc:
            if config_context.fail_fast:
                raise
            exception = exc

        return Result.init_from(subflow=flow, underlying=results, successful=(exception is None), task_values=results, exception=exception)

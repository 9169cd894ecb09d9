"""Per-task wall time, from pipedag's trace hook events.

pipedag reports no per-task duration, but its TraceHook sees each task's events (cache check,
call, materialization) and the stage commits between them. A task's time runs from the previous
event of the run to its own last event; with the sequential engine that is exactly the task.
Engines that run tasks in other processes send no events here: they time the task where it
runs and hand the seconds over (``task_ran_elsewhere``, called by ``flows.worker_task.report``).
The same events tell progress listeners when a task starts and ends (``tasks.progress``).
"""

from __future__ import annotations

import time

from stagehouse.flows.prompt_stop import PromptStop
from stagehouse.tasks import progress


class TaskTimer(PromptStop):
    """Collects ``seconds[task_id]`` while a flow runs (and ends the run promptly, ``PromptStop``)."""

    def __init__(self) -> None:
        self.last_event = time.perf_counter()
        self.started: dict[int, float] = {}
        self.seconds: dict[int, float] = {}

    def _task_event(self, task) -> None:
        now = time.perf_counter()
        start = self.started.setdefault(task._id, self.last_event)
        self.seconds[task._id] = now - start
        self.last_event = now

    def task_ran_elsewhere(self, task, seconds: float) -> None:
        """The seconds a Dask worker measured around the task (its events stayed in that process)."""
        self.seconds[task._id] = seconds

    def _run_event(self) -> None:
        self.last_event = time.perf_counter()

    def task_cache_status(self, task, *args, **kwargs):
        self._task_event(task)

    def task_pre_call(self, task):
        self._task_event(task)
        progress.started(task._name)

    def task_post_call(self, task):
        self._task_event(task)

    def task_complete(self, task, result):
        self._task_event(task)
        progress.finished(task._name)

    def query_complete(self, task, table):
        self._task_event(task)

    def stage_post_init(self, stage_id, success):
        self._run_event()

    def stage_post_commit(self, stage_id, success):
        self._run_event()

"""The executable holds the cycle collector back while a command loads, and gives it back."""

import gc
import subprocess
import sys

import pytest

from stagehouse.flows import console


@pytest.fixture
def default_collector():
    thresholds = gc.get_threshold()
    yield thresholds
    console._held["thresholds"] = None
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_startup_raises_the_young_threshold_and_done_restores_it(default_collector):
    console.hold_collector()
    assert gc.get_threshold()[0] == console.STARTUP_THRESHOLD
    assert gc.get_threshold()[1:] == default_collector[1:]
    console.startup_done()
    assert gc.get_threshold() == default_collector
    assert gc.get_freeze_count() > 0  # what start-up loaded is no longer walked by every collection


def test_done_without_hold_changes_nothing(default_collector):
    frozen = gc.get_freeze_count()
    console.startup_done()
    assert gc.get_threshold() == default_collector
    assert gc.get_freeze_count() == frozen


def test_holding_twice_keeps_the_thresholds_to_restore(default_collector):
    console.hold_collector()
    console.hold_collector()
    console.startup_done()
    assert gc.get_threshold() == default_collector


def test_pipedag_loads_dask_only_when_an_engine_uses_it():
    script = (
        "import sys\n"
        "from stagehouse.flows.console import defer_dask_for_pipedag\n"
        "defer_dask_for_pipedag()\n"
        "from pydiverse.pipedag.engine import DaskEngine, SequentialEngine\n"
        "assert 'dask' not in sys.modules, 'loading the engines loaded dask'\n"
        "from pydiverse.pipedag.optional_dependency.dask import dask\n"
        "assert dask.compute(dask.delayed(sum)([1, 2]))[0] == 3\n"
        "assert 'dask' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

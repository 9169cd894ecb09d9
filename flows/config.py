"""Load pipedag.yaml the Stagehouse way and quiet pipedag's logging (kept here for ``flows``
callers; the code lives in ``tasks``, since plain pipedag calls use it once tasks are imported).

Example::

    config = config_context("postgres")
    flow.run(config=config)
"""

from __future__ import annotations

from stagehouse.tasks.project_config import PROJECT_DIR, ProjectConfig, config_context, pipedag_config
from stagehouse.tasks.quiet_logging import log_level_from_env, setup_quiet_logging

__all__ = [
    "PROJECT_DIR",
    "ProjectConfig",
    "config_context",
    "log_level_from_env",
    "pipedag_config",
    "setup_quiet_logging",
]

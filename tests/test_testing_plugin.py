"""stagehouse.testing's mirror: whatever a project's pipedag.yaml says, a test's store, blobs and
locks land in the test's folder, and the real project's data/ is never opened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from stagehouse.connectors.settings import instance_section, load_config_file, store_url
from stagehouse.testing import _mirror

REPO = Path(__file__).resolve().parent.parent


def test_a_store_declared_for_every_instance_with_an_absolute_path_moves_into_the_mirror(tmp_path):
    document = yaml.safe_load((REPO / "pipedag.yaml").read_text())
    local = document["instances"]["local"]
    document["instances"]["__any__"].update(
        table_store=local.pop("table_store"),
        blob_store=local.pop("blob_store"),
        lock_manager=local.pop("lock_manager"),
    )
    document["instances"]["__any__"]["table_store"]["args"]["url"] = "duckdb:////srv/warehouse/prod.duckdb"
    document["instances"]["__any__"]["lock_manager"]["args"]["base_path"] = "/srv/warehouse/locks"
    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    (project / "pipedag.yaml").write_text(yaml.safe_dump(document))
    mirror = tmp_path / "mirror"

    _mirror(project / "pipedag.yaml", mirror, "local", "shop_test_1")

    assert store_url("local", mirror / "pipedag.yaml") == f"duckdb:///{mirror}/data/shop_test_1/db.duckdb"
    section = instance_section(load_config_file(mirror / "pipedag.yaml"), "local")
    assert section["lock_manager"]["args"]["base_path"] == "{project_dir}/data/lock_manager"
    assert section["lock_manager"]["class"] == "pydiverse.pipedag.backend.lock.FileLockManager"
    assert (mirror / "flows").resolve() == project / "flows"


def test_importing_the_plugin_loads_neither_pipedag_nor_pandas():
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, stagehouse.testing; print(sorted(m for m in ('pydiverse.pipedag', 'pandas', 'polars', "
            "'pyarrow', 'sqlalchemy') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"

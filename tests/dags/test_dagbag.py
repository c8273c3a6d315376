"""Every DAG file imports cleanly and follows the house rules."""

from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

DAG_FILES = sorted((PROJECT_ROOT / "dags").glob("*.py"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "taste_nightly" in dagbag.dags


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda path: path.name)
def test_every_dag_has_tags_retries_and_no_catchup(dagbag, path):
    for dag_id, dag in dagbag.dags.items():
        if Path(dag.fileloc) != path:
            continue
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.catchup is False, f"{dag_id} catches up"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag_id}.{task.task_id} retries {task.retries} < 2"


def test_nightly_shape(dagbag):
    dag = dagbag.dags["taste_nightly"]
    assert dag.max_active_runs == 1
    assert set(dag.params) == {"people", "full_resync", "force_retrain", "fresh_map"}
    order = ["people", "sync", "features", "train", "evaluate_and_promote", "embed", "discover", "playlists"]
    for upstream, downstream in zip(order, order[1:]):
        assert downstream in dag.get_task(upstream).downstream_task_ids, f"{upstream} -> {downstream}"
    assert dag.get_task("playlists").trigger_rule == "none_failed"  # a quiet night writes them too


def test_nightly_needs_no_pool_and_never_overlaps_itself(dagbag):
    """In any Airflow as it comes: no pool to create first, a stuck run ends, backfill runs never overlap."""
    dag = dagbag.dags["taste_nightly"]
    assert {task.pool for task in dag.tasks} == {"default_pool"}
    assert dag.get_task("sync").max_active_tis_per_dag == 2
    assert all(task.max_active_tis_per_dag == 1 for task in dag.tasks if task.task_id != "sync")
    assert dag.dagrun_timeout is not None and dag.dagrun_timeout.total_seconds() < 24 * 3600


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda path: path.name)
def test_parsing_a_dag_file_loads_no_heavy_library(airflow_db, path):
    """The scheduler parses DAG files often: TensorFlow and friends load only inside tasks."""
    import os
    import subprocess
    import sys

    heavy = ("tensorflow", "keras", "openTSNE", "sklearn", "spotipy")
    code = (
        f"import runpy, sys; runpy.run_path({str(path)!r}); "
        f"print('LOADED:' + ','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert result.returncode == 0, result.stderr[-1500:]
    loaded = result.stdout.rsplit("LOADED:", 1)[1].strip()
    assert loaded == "", f"parsing {path.name} loads {loaded}"

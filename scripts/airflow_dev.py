"""Airflow on a developer's machine: the environment of a local Airflow and one in-process DAG run.

Used by `make demo`, `make airflow`, the DAG tests and the benchmarks; never
by a deployed scheduler, which is why it lives here and not in plugins/.
"""

from __future__ import annotations

import os
from pathlib import Path

from taskcode import db

PROJECT = Path(__file__).resolve().parent.parent


def local_environment(settings) -> dict[str, str]:
    """Environment for Airflow on the embedded default (`make demo`, `make airflow`).

    Airflow's metadata goes into a database `airflow` of the same local
    PostgreSQL (SQLite under the data folder when DATABASE_URL points elsewhere).
    """
    home = settings.paths.data_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    url = db.database_url(settings)
    metadata = f"sqlite:///{home / 'airflow.db'}"
    if settings.database.embedded:
        with db.connection(settings) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
                if cur.fetchone() is None:
                    cur.execute('CREATE DATABASE "airflow"')
        metadata = "postgresql+psycopg2://" + url.split("://", 1)[1].rsplit("/", 1)[0] + "/airflow"
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "DATABASE_URL": url,
        "PYTHONPATH": os.pathsep.join([str(PROJECT), str(PROJECT / "plugins")]),
    }


def test_run(dag_id: str, conf: dict | None = None) -> tuple[str, list[tuple[str, str, object]]]:
    """Run a DAG once in this process (Airflow's `dag.test()`), as `make demo` and the tests do.

    Returns the run's state and (task, state, returned value) for every task instance.
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    if bag.import_errors:
        path, error = next(iter(bag.import_errors.items()))
        raise RuntimeError(f"{path} does not import: {error.strip().splitlines()[-1]}")
    run = bag.get_dag(dag_id).test(run_conf=conf or {})
    tasks = []
    for ti in sorted(run.get_task_instances(), key=lambda ti: (ti.start_date or run.start_date, ti.map_index)):
        name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]"
        tasks.append((name, str(ti.state), ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)))
    return str(run.state), tasks

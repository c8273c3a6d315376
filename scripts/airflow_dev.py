"""Airflow on a developer's machine: its environment, a stock `airflow standalone`, one in-process DAG run.

Used by `make demo`, `make airflow`, the DAG tests and the benchmarks; never
by a deployed scheduler, which is why it lives here and not in plugins/.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from taskcode import db
from taskcode.errors import TaskcodeError

PROJECT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"  # in AIRFLOW_HOME, written by Airflow


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


def standalone_environment(port: int) -> dict[str, str]:
    """What `airflow standalone` needs beyond AIRFLOW_HOME and the DAG folders.

    It starts each component as `airflow` from PATH, so the venv's bin comes
    first; tasks reach the API on the same port; the executor starts as many
    task processes as the machine has cores (Airflow's default is 32).
    """
    return {
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{port}/execution/",
        "AIRFLOW__CORE__PARALLELISM": str(os.cpu_count() or 2),
    }


def check_ports_free(ports: dict[str, int]) -> None:
    """Each port (named by the setting that chooses it) is free on 127.0.0.1, or one line says which is not."""
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                raise TaskcodeError(
                    f"port {port} ({name}) is in use by another program: stop it, or choose another with {name}=PORT"
                ) from None


class Standalone:
    """`airflow standalone` in its own process group, its output in a log file; `stop()` ends all it started."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env, self.log_path = env, log_path
        self.home = Path(env["AIRFLOW_HOME"])
        self.base = f"http://{HOST}:{env['AIRFLOW__API__PORT']}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Standalone:
        airflow = str(Path(sys.executable).with_name("airflow"))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [airflow, "standalone"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the scheduler's task processes go with it
            )
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 240) -> None:
        """Until the API answers and the scheduler, DAG processor and triggerer report healthy."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise TaskcodeError(f"airflow standalone exited ({self.process.returncode}); see {self.log_path}")
            try:
                health = request(f"{self.base}/api/v2/monitor/health")
                if all(
                    health.get(part, {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "dag_processor", "triggerer")
                ):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TaskcodeError(f"airflow standalone was not ready in {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.5)

    def token(self) -> str:
        """A JWT for the generated `admin` login (the simple auth manager's password file)."""
        passwords = json.loads((self.home / PASSWORD_FILE).read_text())
        body = {"username": "admin", "password": passwords["admin"]}
        return request(f"{self.base}/auth/token", body)["access_token"]

    def stop(self, grace: float = 30) -> None:
        """SIGTERM to the process group and every process it started (task runners have groups of their own)."""
        if self.process is None:
            return
        import psutil

        try:
            family = [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for proc in family:
            _signal(proc, signal.SIGTERM)
        _gone, alive = psutil.wait_procs(family, timeout=grace)
        for proc in alive:
            _signal(proc, signal.SIGKILL)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.process = None


def _signal(proc, signum) -> None:
    import psutil

    try:
        proc.send_signal(signum)
    except psutil.NoSuchProcess:
        pass


def request(url: str, body: dict | None = None, token: str | None = None, method: str | None = None) -> dict:
    """One JSON call to Airflow's REST API."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    call = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(call, timeout=10) as answer:
        return json.load(answer)


def write_env_file(env: dict[str, str], path: Path) -> Path:
    """A file a shell can source (`. data/airflow/env.sh`) so that `airflow …` reaches this Airflow.

    It holds the database URL and the Spotify settings, so only its owner may read it.
    """
    import shlex

    keep = ("AIRFLOW_HOME", "AIRFLOW__", "DATABASE_URL", "PYTHONPATH", "SPOTIFY_", "RECCOBEATS_", "TASKCODE_")
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items()) if name.startswith(keep)]
    lines.append(f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"')
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(
        "# written by `make airflow`: . this file, then `airflow …` reaches that Airflow\n" + "\n".join(lines) + "\n"
    )
    return path

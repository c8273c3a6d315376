"""The compose deployment in real containers (`make test-deploy`, not part of `make test`).

A private Docker engine (tests/deploy/engine.py), the base images as stand-ins
built from Debian's packages (scripts/deploy/standin-images.sh) or, with
TASTE_DEPLOY_REAL_IMAGES=1, pulled; the project's image built from the
Dockerfile; then docker-compose.yml brought up from nothing, the sample
library's people authorized through the `cli` service against the emulator,
and `taste_nightly` triggered over Airflow's REST API: on LocalExecutor, then
on CeleryExecutor with two workers. TASTE_DEPLOY_KEEP=1 keeps the engine's data
root (images, build cache) for the next run.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.deploy.engine import Engine

pytestmark = pytest.mark.timeout(3600)

PROJECT = "taste-deploy-test"
COMPOSE_FILES = ("docker-compose.yml", "tests/deploy/compose.test.yml")
PASSWORDS_FILE = "/opt/airflow/auth/simple_auth_manager_passwords.json.generated"
CA_BUNDLE = Path(os.environ.get("TASTE_DEPLOY_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))
ROOT = Path(os.environ.get("TASTE_DEPLOY_DIR", Path(tempfile.gettempdir()) / "taste-deploy"))
KEEP = os.environ.get("TASTE_DEPLOY_KEEP") == "1"
REAL_IMAGES = os.environ.get("TASTE_DEPLOY_REAL_IMAGES") == "1"
RUN_SECONDS = 900


def say(message: str) -> None:
    print(f"[deploy {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll(what: str, check, seconds: float, every: float = 2.0):
    """`check()` until it returns something truthy, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(every)


class Stack:
    """docker compose for this project, on the private engine."""

    def __init__(self, engine: Engine, work: Path):
        self.engine = engine
        self.work = work
        self.ports = {"airflow": free_port(), "dashboard": free_port(), "emulator": free_port()}
        self.env_file = work / "deploy.env"
        self.admin_password: str | None = None  # as the API server first generated it
        self.settings = {
            "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
            "DASHBOARD_PASSWORD": secrets.token_urlsafe(18),
            "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
            "SPOTIFY_CLIENT_ID": secrets.token_hex(16),
            "SPOTIFY_CLIENT_SECRET": secrets.token_hex(16),
            "AIRFLOW_EXECUTOR": "LocalExecutor",
            "AIRFLOW_PORT": str(self.ports["airflow"]),
            "DASHBOARD_PORT": str(self.ports["dashboard"]),
            "TASTE_DEPLOY_EMULATOR_PORT": str(self.ports["emulator"]),
            "TASTE_DEPLOY_CHECKOUT": str(PROJECT_ROOT),
            "TASTE_DEPLOY_WORK": str(work),
        }
        self.write_env()

    def write_env(self) -> None:
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in self.settings.items()))
        self.env_file.chmod(0o600)

    def compose(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        files = [arg for name in COMPOSE_FILES for arg in ("-f", str(PROJECT_ROOT / name))]
        return self.engine.docker(
            "compose",
            "--project-name",
            PROJECT,
            "--project-directory",
            str(PROJECT_ROOT),
            "--env-file",
            str(self.env_file),
            *files,
            *args,
            check=check,
            timeout=timeout,
        )

    def containers(self) -> list[dict]:
        out = self.compose("ps", "--all", "--format", "json").stdout
        lines = [line for line in out.splitlines() if line.strip()]
        if len(lines) == 1 and lines[0].startswith("["):
            return json.loads(lines[0])
        return [json.loads(line) for line in lines]

    def wait_healthy(self, services: set[str], seconds: float = 600) -> None:
        def ready():
            states = {}
            for c in self.containers():
                states.setdefault(c["Service"], []).append((c["State"], c.get("Health", "")))
            for name, entries in states.items():
                for state, _health in entries:
                    if state in ("exited", "dead") and name != "airflow-init":
                        raise AssertionError(f"{name} {state}:\n{self.logs(name)}")
            return all(states.get(name) and all(h == "healthy" for _, h in states[name]) for name in services)

        poll(f"healthy {', '.join(sorted(services))}", ready, seconds, every=5)

    def logs(self, service: str, lines: int = 60) -> str:
        return self.compose("logs", "--no-color", "--tail", str(lines), service, check=False).stdout

    def exec(self, service: str, *command: str) -> subprocess.CompletedProcess:
        return self.compose("exec", "-T", service, *command, check=False, timeout=300)

    def hostnames(self, service: str) -> set[str]:
        ids = self.compose("ps", "-q", service).stdout.split()
        return {self.engine.docker("inspect", "-f", "{{.Config.Hostname}}", cid).stdout.strip() for cid in ids}


class Airflow:
    """Airflow 3's REST API (`/api/v2`) with a JWT from the simple auth manager."""

    def __init__(self, stack: Stack):
        self.base = f"http://127.0.0.1:{stack.ports['airflow']}"
        passwords = stack.exec("airflow-apiserver", "cat", PASSWORDS_FILE)
        assert passwords.returncode == 0, f"no password file at {PASSWORDS_FILE}: {passwords.stderr}"
        self.password = json.loads(passwords.stdout)["admin"]
        self.token = self.call("POST", "/auth/token", {"username": "admin", "password": self.password}, auth=False)[
            "access_token"
        ]

    def call(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def get_or_none(self, path: str):
        try:
            return self.call("GET", path)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def run_nightly(self, label: str) -> tuple[dict, list[dict]]:
        """Trigger taste_nightly, wait for its end; (the run, its task instances)."""
        dag = poll("the DAG taste_nightly parsed", lambda: self.get_or_none("/api/v2/dags/taste_nightly"), 300)
        assert dag["is_paused"] is False, "the DAG should start unpaused (DAGS_ARE_PAUSED_AT_CREATION)"
        run = self.call("POST", "/api/v2/dags/taste_nightly/dagRuns", {"logical_date": None, "conf": {}})
        run_id = run["dag_run_id"]
        say(f"{label}: triggered {run_id}")
        path = f"/api/v2/dags/taste_nightly/dagRuns/{urllib.request.quote(run_id, safe='')}"

        def finished():
            try:
                state = self.call("GET", path)["state"]
            except (TimeoutError, ConnectionError, urllib.error.URLError) as exc:
                # A busy API server may miss one answer (its workers run tasks' API calls too): ask again.
                say(f"{label}: the API server did not answer ({exc}); asking again")
                return None
            return state if state in ("success", "failed") else None

        state = poll(f"{label} run {run_id}", finished, RUN_SECONDS, every=5)
        tasks = self.call("GET", f"{path}/taskInstances?limit=100")["task_instances"]
        if state != "success":
            raise AssertionError(f"{label}: run {run_id} {state}:\n{self.describe(path, tasks)}")
        return self.call("GET", path), tasks

    def describe(self, run_path: str, tasks: list[dict]) -> str:
        lines = []
        for ti in tasks:
            lines.append(f"  {ti['task_id']}[{ti['map_index']}] {ti['state']} on {ti.get('hostname')}")
            if ti["state"] in ("failed", "upstream_failed", "up_for_retry"):
                try:
                    log = self.call(
                        "GET",
                        f"{run_path}/taskInstances/{ti['task_id']}/logs/{max(ti['try_number'], 1)}"
                        f"?map_index={ti['map_index']}&full_content=true",
                    )
                    lines.append(json.dumps(log)[-3000:])
                except urllib.error.HTTPError as exc:
                    lines.append(f"    (no log: {exc})")
        return "\n".join(lines)


def summary(label: str, run: dict, tasks: list[dict]) -> str:
    hosts = sorted({ti["hostname"] for ti in tasks if ti.get("hostname")})
    states = {}
    for ti in tasks:
        states[ti["state"]] = states.get(ti["state"], 0) + 1
    return (
        f"{label}: taste_nightly run {run['dag_run_id']} {run['state'].upper()} "
        f"({', '.join(f'{n} {s}' for s, n in sorted(states.items()))}; hosts {', '.join(hosts)})"
    )


@pytest.fixture(scope="module")
def engine():
    started = time.monotonic()
    engine = Engine(ROOT)
    try:
        engine.start()
        say(f"dockerd up, data root {engine.data_root}")
        yield engine
    finally:
        engine.stop()
        if not KEEP:
            engine.remove()
        say(f"engine stopped{'' if KEEP else ' and its data root removed'}; {time.monotonic() - started:.0f} s in all")


@pytest.fixture(scope="module")
def stack(engine):
    started = time.monotonic()
    if REAL_IMAGES:
        for image in ("apache/airflow:3.3.2-python3.11", "postgres:16", "redis:7.2-bookworm"):
            engine.docker("pull", "-q", image, timeout=1800)
    else:
        subprocess.run(
            [str(PROJECT_ROOT / "scripts" / "deploy" / "standin-images.sh")],
            check=True,
            env={**engine.builder[1], "DOCKER": engine.builder[0]},
            timeout=1800,
        )
    say(f"base images ready ({time.monotonic() - started:.0f} s)")
    started = time.monotonic()
    secret = ["--secret", f"id=pip_ca,src={CA_BUNDLE}"] if CA_BUNDLE.is_file() else []
    engine.build("--network", "host", *secret, "-t", "whose-song:latest", str(PROJECT_ROOT), timeout=3600)
    say(f"project image built ({time.monotonic() - started:.0f} s)")

    with tempfile.TemporaryDirectory(prefix="taste-deploy-work-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "emulator",
                "sample-library",
                "--people",
                "2",
                "--tracks",
                "150",
                "-o",
                str(work / "library.json"),
            ],
            check=True,
            capture_output=True,
            cwd=PROJECT_ROOT,
        )
        (work / "library.json").chmod(0o644)
        stack = Stack(engine, work)
        # From nothing, even in a kept data root that an interrupted run left behind.
        stack.compose("--profile", "scale", "--profile", "tools", "down", "--volumes", "--remove-orphans")
        try:
            yield stack
        finally:
            if engine.process.poll() is None:  # else test_teardown_leaves_nothing_running took it all down
                result = stack.compose(
                    "--profile",
                    "scale",
                    "--profile",
                    "tools",
                    "down",
                    "--volumes",
                    "--remove-orphans",
                    "--timeout",
                    "20",
                    check=False,
                )
                say(f"compose down: exit {result.returncode}")


def test_image_has_no_test_tools_and_no_build_secret(stack):
    probe = (
        "import importlib.util, os, sys\n"
        "print([m for m in ('pytest', 'playwright') if importlib.util.find_spec(m)],"
        " os.path.exists('/run/secrets/pip_ca'), os.environ.get('PIP_CERT'), os.getuid())\n"
    )
    result = stack.engine.docker(
        "run", "--rm", "--network", "none", "--entrypoint", "python", "whose-song:latest", "-c", probe
    )
    assert result.stdout.strip() == "[] False None 50000"  # the CA bundle was a build secret, never a file


def test_local_executor_runs_the_nightly_dag(stack):
    started = time.monotonic()
    stack.compose("up", "--detach", "--no-build", "--quiet-pull")
    stack.wait_healthy(
        {
            "postgres",
            "emulator",
            "airflow-apiserver",
            "airflow-scheduler",
            "airflow-dag-processor",
            "airflow-triggerer",
            "dashboard",
        }
    )
    init = [c for c in stack.containers() if c["Service"] == "airflow-init"]
    assert init and init[0]["State"] == "exited" and init[0]["ExitCode"] == 0, stack.logs("airflow-init")
    say(f"stack up from nothing ({time.monotonic() - started:.0f} s)")

    people = json.loads(
        urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['emulator']}/admin/people", timeout=10).read()
    )
    assert len(people) == 2
    for person in people:
        result = stack.compose(
            "run",
            "--rm",
            "--no-deps",
            "cli",
            "authorize",
            "--user",
            person["name"],
            "--refresh-token",
            person["refresh_token"],
            check=False,
        )
        assert result.returncode == 0, result.stderr + result.stdout
    status = stack.compose("run", "--rm", "--no-deps", "cli", "status").stdout
    for person in people:
        assert person["name"] in status
    say(f"authorized {', '.join(p['name'] for p in people)} through the cli service")

    airflow = Airflow(stack)
    stack.admin_password = airflow.password
    run, tasks = airflow.run_nightly("LocalExecutor")
    assert {ti["task_id"] for ti in tasks if ti["state"] == "success"} >= {
        "people",
        "sync",
        "features",
        "train",
        "embed",
    }
    assert {ti["hostname"] for ti in tasks if ti["state"] == "success"} <= stack.hostnames("airflow-scheduler")
    say(summary("LocalExecutor", run, tasks))


def test_dashboard_answers_and_its_role_cannot_write(stack):
    health = urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['dashboard']}/_stcore/health", timeout=10)
    assert health.status == 200 and health.read().strip() == b"ok"
    probe = (
        "import os, psycopg2\n"
        "conn = psycopg2.connect(os.environ['DATABASE_URL'])\n"
        "cur = conn.cursor()\n"
        "cur.execute('SELECT count(*) FROM people')\n"
        "print('people', cur.fetchone()[0])\n"
        "for sql in ('UPDATE people SET name = name', 'CREATE TABLE dashboard_was_here (x int)'):\n"
        "    try:\n"
        "        cur.execute(sql)\n"
        "        conn.commit()\n"
        "        print('WROTE', sql)\n"
        "    except psycopg2.Error as exc:\n"
        "        conn.rollback()\n"
        "        print('refused', exc.pgcode)\n"
    )
    result = stack.exec("dashboard", "python", "-c", probe)
    assert result.returncode == 0, result.stderr
    assert "people 2" in result.stdout
    assert "WROTE" not in result.stdout and result.stdout.count("refused 25006") == 2, result.stdout  # read-only


def test_celery_executor_runs_on_two_workers(stack):
    started = time.monotonic()
    stack.settings["AIRFLOW_EXECUTOR"] = "CeleryExecutor"
    stack.write_env()
    stack.compose("--profile", "scale", "up", "--detach", "--no-build", "--scale", "airflow-worker=2")
    stack.wait_healthy(
        {
            "redis",
            "airflow-apiserver",
            "airflow-scheduler",
            "airflow-dag-processor",
            "airflow-triggerer",
            "airflow-worker",
        }
    )
    workers = stack.hostnames("airflow-worker")
    assert len(workers) == 2
    say(f"scale profile up, two Celery workers ({time.monotonic() - started:.0f} s)")

    airflow = Airflow(stack)
    assert airflow.password == stack.admin_password, "the Airflow password changed when the API server restarted"
    run, tasks = airflow.run_nightly("CeleryExecutor")
    ran_on = {ti["hostname"] for ti in tasks if ti["state"] == "success"}
    assert ran_on == workers, f"tasks ran on {ran_on}, workers are {workers}"
    say(summary("CeleryExecutor", run, tasks))


def test_teardown_leaves_nothing_running(stack, engine):
    stack.compose(
        "--profile", "scale", "--profile", "tools", "down", "--volumes", "--remove-orphans", "--timeout", "20"
    )
    assert engine.docker("ps", "--all", "--quiet").stdout.strip() == ""
    assert engine.docker("volume", "ls", "--quiet").stdout.strip() == ""
    engine.stop()
    assert engine.process.returncode is not None
    left = (
        poll("the engine's processes and mounts to go", lambda: not engine.leftovers() or None, 30, every=0.5)
        if engine.leftovers()
        else True
    )
    assert left and not engine.leftovers(), engine.leftovers()
    say("nothing left running: no container, no volume, dockerd and its containerd stopped")

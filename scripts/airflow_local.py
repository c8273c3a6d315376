"""`make airflow`: a local Airflow (standalone) with the project's DAGs; `make airflow-cli ARGS=…`: its CLI.

Metadata in the embedded local PostgreSQL (database `airflow`), the DAGs of
`dags/`, unpaused. With SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET set, the
DAGs talk to Spotify for the people you authorized; without them, a Spotify
emulator serving the demo library runs beside Airflow (on EMULATOR_PORT,
default 8765) and its people are authorized for you.

Every port is checked before anything starts and bound to 127.0.0.1 (UI and
API on AIRFLOW_PORT, default 8080). Airflow's own output goes to
data/airflow/standalone.log; the login is the last thing printed. Ctrl-C (or
SIGTERM) stops every process started here. `data/airflow/env.sh` is written
for your shell: `. data/airflow/env.sh`, then `airflow dags trigger taste_nightly`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
# The checkout itself (development tools that are not installed) and plugins/, where Airflow finds taste_airflow.
sys.path[:0] = [str(PROJECT), str(PROJECT / "plugins")]

from airflow_dev import (  # noqa: E402 - beside this script
    HOST,
    PASSWORD_FILE,
    Standalone,
    check_ports_free,
    local_environment,
    request,
    standalone_environment,
    write_env_file,
)

from emulator import generate  # noqa: E402
from taskcode import db  # noqa: E402
from taskcode.authorize import authorize  # noqa: E402
from taskcode.config import load_settings  # noqa: E402
from taskcode.errors import TaskcodeError  # noqa: E402

DAG_ID = "taste_nightly"
DAG_PARSE_SECONDS = 120


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise TaskcodeError(f"{name} is {value!r}; allowed: a port number 1-65535")
    return int(value)


def ports(emulated: bool) -> dict[str, int]:
    """Every port this Airflow listens on, named by the variable that chooses it."""
    chosen = {
        "AIRFLOW_PORT": _port("AIRFLOW_PORT", 8080),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": _port("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", 8793),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": _port("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", 8794),
    }
    if emulated:
        chosen["EMULATOR_PORT"] = _port("EMULATOR_PORT", 8765)
    return chosen


def airflow_environment(settings, port: int) -> dict[str, str]:
    """The one environment of `make airflow`, `make airflow-cli` and data/airflow/env.sh."""
    return {
        **local_environment(settings),
        **standalone_environment(port),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }


def main() -> int:
    settings = load_settings()
    emulated = not settings.spotify.client_id
    chosen = ports(emulated)
    check_ports_free(chosen)  # a leftover emulator or Airflow is named here, not misread later
    signal.signal(signal.SIGTERM, _interrupt)
    emulator = None
    try:
        if emulated:
            emulator = _start_emulator(settings, chosen["EMULATOR_PORT"])
            settings = load_settings()
        env = airflow_environment(settings, chosen["AIRFLOW_PORT"])
        home = Path(env["AIRFLOW_HOME"])
        env_file = write_env_file(env, home / "env.sh")
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"Starting Airflow (its output: {home / 'standalone.log'}) …", flush=True)
        with Standalone(env, home / "standalone.log") as standalone:
            standalone.wait_ready()
            _unpause(standalone)  # also a DAG left paused by an earlier Airflow in this home
            print(f"Airflow UI: {standalone.base}")
            print(f'Airflow CLI: make airflow-cli ARGS="dags trigger {DAG_ID}", or . {env_file} then airflow …')
            print(f"Login: user admin, password in {home / PASSWORD_FILE}. Ctrl-C stops Airflow.", flush=True)
            return standalone.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=30)


def cli(args: list[str]) -> int:
    """`airflow ARGS` with the environment of `make airflow` (its metadata, its DAG folders)."""
    settings = load_settings()
    env = airflow_environment(settings, ports(False)["AIRFLOW_PORT"])
    return subprocess.run([str(Path(sys.executable).with_name("airflow")), *args], env=env).returncode


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _unpause(standalone: Standalone) -> None:
    import time
    import urllib.error

    token = standalone.token()
    url = f"{standalone.base}/api/v2/dags/{DAG_ID}"
    deadline = time.monotonic() + DAG_PARSE_SECONDS
    while True:
        try:
            request(url, {"is_paused": False}, token, method="PATCH")
            return
        except urllib.error.HTTPError as error:  # 404 until the DAG processor has parsed dags/
            if error.code != 404 or time.monotonic() > deadline:
                raise TaskcodeError(f"{DAG_ID} did not appear in Airflow; see {standalone.log_path}") from None
        time.sleep(1)


def _start_emulator(settings, port: int) -> subprocess.Popen:
    """The Spotify emulator on the demo library, and everyone in it authorized."""
    import secrets

    demo_dir = settings.paths.data_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    library_path = demo_dir / "library.json"
    if not library_path.exists():
        library = generate(people=2, tracks=1000, overlap=0.1, seed=7, catalog_extra=2000)
        library.save(library_path)
        library.write_catalog(demo_dir / "catalog.csv")
    base = f"http://{HOST}:{port}"
    os.environ.update(
        {
            "SPOTIFY_CLIENT_ID": "local-emulator-app",
            "SPOTIFY_CLIENT_SECRET": secrets.token_urlsafe(24),
            "SPOTIFY_API_BASE": base + "/v1",
            "SPOTIFY_ACCOUNTS_BASE": base,
            "RECCOBEATS_API_BASE": base + "/reccobeats/v1",
            "TASKCODE_CATALOG_CSV": str(demo_dir / "catalog.csv"),
        }
    )
    emulator = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--library", str(library_path)]
        + ["--client-id", "local-emulator-app"],
        env=os.environ,
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
    )
    people = _wait_for_people(f"{base}/admin/people", emulator)
    settings = load_settings()
    with db.migrated(settings) as conn:
        for person in people:
            authorize(settings, conn, person["name"], refresh_token=person["refresh_token"])
    print(f"Spotify emulator on {base}: {', '.join(p['name'] for p in people)} authorized (no Spotify account used)")
    return emulator


def _wait_for_people(url: str, process: subprocess.Popen, timeout: float = 30):
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return request(url)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise TaskcodeError(f"the Spotify emulator did not start on {url}") from None
            time.sleep(0.2)


if __name__ == "__main__":
    try:
        sys.exit(cli(sys.argv[2:]) if sys.argv[1:2] == ["cli"] else main())
    except TaskcodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)

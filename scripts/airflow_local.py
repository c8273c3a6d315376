"""`make airflow`: a local Airflow (standalone) with the project's DAGs.

Metadata in the embedded local PostgreSQL (database `airflow`), the DAGs of
`dags/`, the `spotify_api` pool. With SPOTIFY_CLIENT_ID and
SPOTIFY_CLIENT_SECRET set, the DAGs talk to Spotify for the people you
authorized; without them, a Spotify emulator serving the demo library runs
beside Airflow (on port 8765) and its people are authorized for you.

Airflow prints the login (user `admin` and a generated password) when it is
ready; the UI is at http://127.0.0.1:$AIRFLOW_PORT (default 8080).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
# The checkout itself (development tools that are not installed) and plugins/, where Airflow finds taste_airflow.
sys.path[:0] = [str(PROJECT), str(PROJECT / "plugins")]

from airflow_dev import local_environment  # noqa: E402 - beside this script

from emulator import generate  # noqa: E402
from taskcode import db  # noqa: E402
from taskcode.authorize import authorize  # noqa: E402
from taskcode.config import load_settings  # noqa: E402
from taskcode.errors import TaskcodeError  # noqa: E402
from taste_airflow import SPOTIFY_POOL, SPOTIFY_POOL_SLOTS  # noqa: E402

EMULATOR_PORT = 8765
EMULATOR_START_SECONDS = 30


def main() -> int:
    settings = load_settings()
    port = int(os.environ.get("AIRFLOW_PORT", "8080"))
    children = []
    try:
        if not settings.spotify.client_id:
            children.append(_start_emulator(settings))
            settings = load_settings()
        env = local_environment(settings)
        env.update(
            {
                "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            }
        )
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            [airflow, "pools", "set", SPOTIFY_POOL, str(SPOTIFY_POOL_SLOTS), "caps concurrent Spotify calls"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"Airflow UI: http://127.0.0.1:{port} (login printed below as 'Login with username'); Ctrl-C stops it")
        standalone = subprocess.Popen([airflow, "standalone"], env=env)
        children.append(standalone)
        return standalone.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()


def _start_emulator(settings) -> subprocess.Popen:
    """The Spotify emulator on the demo library, and everyone in it authorized."""
    import secrets

    demo_dir = settings.paths.data_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    library_path = demo_dir / "library.json"
    if not library_path.exists():
        library = generate(people=2, tracks=1000, overlap=0.1, seed=7, catalog_extra=2000)
        library.save(library_path)
        library.write_catalog(demo_dir / "catalog.csv")
    base = f"http://127.0.0.1:{EMULATOR_PORT}"
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
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--port",
            str(EMULATOR_PORT),
            "--library",
            str(library_path),
            "--client-id",
            "local-emulator-app",
        ],
        env=os.environ,
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
    )
    people = _wait_for_json(f"{base}/admin/people", emulator)
    settings = load_settings()
    with db.migrated(settings) as conn:
        for person in people:
            authorize(settings, conn, person["name"], refresh_token=person["refresh_token"])
    print(f"Spotify emulator on {base}: {', '.join(p['name'] for p in people)} authorized (no Spotify account used)")
    return emulator


def _wait_for_json(url: str, process: subprocess.Popen):
    deadline = time.monotonic() + EMULATOR_START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return json.load(answer)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise TaskcodeError(f"the Spotify emulator did not start on {url}") from None
            time.sleep(0.2)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TaskcodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)

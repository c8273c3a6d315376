"""Logging at DEBUG, the whole pipeline: no token, client secret or database password anywhere.

Authorize (a refresh token, and spotipy's token file), sync with expired
access tokens (refreshed mid-run) and a burst of 503s, status, one nightly
DAG run through Airflow's `dag.test()` (sync, features, train, promotion,
map, discover) with its settings taken from Airflow Connections, and a
prediction that asks the feature sources: every byte they print, and every
file they write under the data folder and Airflow's home, is searched for
every secret that existed during the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulator import Emulator, generate
from tests.conftest import PROJECT_ROOT, run_cli
from tests.dags.conftest import airflow_db  # noqa: F401 - Airflow's test home, migrated once
from tests.reliability.conftest import TRAINED, cli_env, rows

pytestmark = pytest.mark.slow

NIGHTLY_RUN = """
import json
from scripts.airflow_dev import test_run

state, tasks = test_run("taste_nightly")
print("NIGHTLY RUN " + json.dumps({"state": state, "tasks": {name: task_state for name, task_state, _ in tasks}}))
"""


def tokens_in_database(url: str) -> set[str]:
    found = set()
    for (token,) in rows(url, "SELECT token_info FROM spotify_tokens"):
        found |= {token.get("access_token"), token.get("refresh_token")}
    return {t for t in found if t}


def files_written_since(folder: Path, moment: float) -> dict[Path, str]:
    return {
        path: path.read_bytes().decode("utf-8", errors="replace")
        for path in folder.rglob("*")
        if path.is_file() and path.stat().st_mtime >= moment
    }


def test_no_secret_reaches_any_output_or_file_at_debug_level(airflow_db, database_url, tmp_path):  # noqa: F811
    started = time.time() - 1
    library = generate(people=2, tracks=80, seed=13)
    catalog = tmp_path / "catalog.csv"
    library.write_catalog(catalog)
    config = tmp_path / "config.yml"
    config.write_text(TRAINED + f"paths:\n  catalog_csv: {catalog}\n")  # a champion for predict
    data_dir = tmp_path / "data"
    outputs: list[subprocess.CompletedProcess] = []
    secrets: set[str] = set()

    with Emulator(library) as emulator:
        env = {**cli_env(emulator, database_url, config), "LOG_LEVEL": "DEBUG", "TASKCODE_DATA_DIR": str(data_dir)}
        secrets |= {emulator.client_secret, *(emulator.refresh_token(p.name) for p in library.people)}
        outputs.append(
            run_cli("authorize", "--user", "alice", "--refresh-token", emulator.refresh_token("alice"), env=env)
        )
        token_file = tmp_path / ".cache-bob"  # what the original project's scripts left behind
        stale = "BQ" + "stale-access-token-from-the-old-scripts-0123456789"
        token_file.write_text(
            json.dumps(
                {
                    "access_token": stale,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "expires_at": 0,
                    "scope": "user-library-read",
                    "refresh_token": emulator.refresh_token("bob"),
                }
            )
        )
        secrets.add(stale)
        outputs.append(run_cli("authorize", "--user", "bob", "--cache-file", str(token_file), env=env))
        secrets |= tokens_in_database(database_url)

        emulator.expire_access_tokens()  # refreshed mid-run
        emulator.fail("tracks", status=503, count=2)
        outputs.append(run_cli("sync", env=env))
        secrets |= tokens_in_database(database_url)
        outputs.append(run_cli("status", "--json", env=env))

        # The nightly run, configured the Airflow way: the database and the Spotify app are Connections.
        new = [emulator.add_like("alice") for _ in range(3)]
        emulator.expire_access_tokens()
        airflow_env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SPOTIFY_", "RECCOBEATS_", "DATABASE_URL"))
        }
        airflow_env |= {
            "AIRFLOW_HOME": str(airflow_db),
            "LOG_LEVEL": "DEBUG",
            "TASKCODE_CONFIG": str(config),
            "TASKCODE_DATA_DIR": str(data_dir),
            "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins")]),
            "AIRFLOW_CONN_TASTE_DB": database_url,
            "AIRFLOW_CONN_SPOTIFY": json.dumps(
                {
                    "conn_type": "generic",
                    "login": emulator.client_id,
                    "password": emulator.client_secret,
                    "extra": {
                        "api_base": emulator.api_base,
                        "accounts_base": emulator.accounts_base,
                        "reccobeats_api_base": emulator.reccobeats_base,
                    },
                }
            ),
        }
        nightly = subprocess.run(
            [sys.executable, "-c", NIGHTLY_RUN],
            env=airflow_env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        outputs.append(nightly)
        report = next((line for line in nightly.stdout.splitlines() if line.startswith("NIGHTLY RUN ")), None)
        assert report, nightly.stderr[-3000:]
        run = json.loads(report.removeprefix("NIGHTLY RUN "))
        assert run["state"] == "success", sorted(run["tasks"].items())
        assert {"sync[alice]", "sync[bob]", "features", "train", "evaluate_and_promote", "embed", "discover"} <= {
            name for name, state in run["tasks"].items() if state == "success"
        }, run
        secrets |= tokens_in_database(database_url)

        # A song the database lacks: its features are asked from the sources, with a person's token.
        emulator.expire_access_tokens()
        outputs.append(run_cli("predict", new[0], "4iV5W9uYEdYUVa79Axb7Rh", env=env))
        secrets |= tokens_in_database(database_url)

    for result in outputs:
        assert result.returncode == 0, (result.args, result.stderr[-3000:])
    assert "DEBUG taskcode.sync" in outputs[2].stderr  # the level was honoured
    assert "[taskcode.train]" in nightly.stdout + nightly.stderr  # the task logs are in the captured output
    assert len(emulator.requests("token")) >= 6  # tokens were refreshed in the CLI, the DAG and predict
    secrets.add(database_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1])  # the database password
    assert len(secrets) >= 8 and all(len(secret) >= 16 for secret in secrets)

    texts = {f"output of {result.args}": result.stdout + result.stderr for result in outputs}
    written = files_written_since(airflow_db, started) | files_written_since(data_dir, started)
    texts |= {str(path): text for path, text in written.items()}
    # Airflow's metadata (the run's XComs, among others), in airflow.db or its write-ahead log.
    assert any(path.name.startswith("airflow.db") for path in written), sorted(written)
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:4]}…) in {where}"

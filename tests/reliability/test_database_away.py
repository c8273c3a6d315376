"""PostgreSQL stops in the middle of a run: one clear line, then the next run recovers.

The server is a cluster of this module's own (the session's cluster stays up),
stopped with `pg_ctl stop -m fast` while `sync` pages through liked songs and
while `train` fits, and started again on the same port afterwards.
"""

from __future__ import annotations

import psycopg2
import pytest

from emulator import Emulator, generate
from emulator.database import load_into_database
from taskcode import db
from tests.conftest import run_cli
from tests.reliability.conftest import (
    Command,
    assert_registry_sane,
    assert_sync_consistent,
    authorize_everyone,
    cli_env,
    one_line_error,
    rows,
    wait_for_calls,
)

pytestmark = pytest.mark.slow


def new_database(cluster, name: str) -> str:
    admin = cluster.ensure_running()
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return admin.rsplit("/", 1)[0] + "/" + name


def assert_says_the_database_went_away(result, url: str) -> None:
    error = one_line_error(result, 3)
    assert "PostgreSQL" in error or "database" in error, error
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in result.stderr + result.stdout


def test_postgres_stopped_during_a_sync(spare_cluster, config, tmp_path):
    url = new_database(spare_cluster, "sync_away")
    library = generate(people=2, tracks=100, seed=21)
    with Emulator(library) as emulator:
        env = cli_env(emulator, url, config)
        authorize_everyone(emulator, url, config)
        emulator.latency("tracks", 0.1)
        sync = Command(tmp_path, "sync", env=env)
        wait_for_calls(emulator, ("tracks",), 3, sync)  # alice's pages are on their way
        spare_cluster.stop()
        assert_says_the_database_went_away(sync.finish(), url)

        assert spare_cluster.ensure_running().rsplit("/", 1)[0] == url.rsplit("/", 1)[0]  # same port
        emulator.latency("tracks", 0)
        assert_sync_consistent(url, library)
        again = run_cli("sync", env=env)
        assert again.returncode == 0, again.stderr
    assert_sync_consistent(url, library)
    assert rows(url, "SELECT count(*) FROM likes") == [(200,)]
    assert rows(url, "SELECT count(*) FROM audio_features") == [
        (sum(1 for t in library.owners() if "reccobeats" in library.tracks[t]["known_by"]),)  # no catalog file
    ]


def test_postgres_stopped_during_training(spare_cluster, config, tmp_path):
    url = new_database(spare_cluster, "train_away")
    conn = psycopg2.connect(url)
    db.migrate(conn)
    load_into_database(conn, generate(people=2, tracks=150, seed=3))
    conn.close()
    env = {"DATABASE_URL": url, "TASKCODE_CONFIG": str(config)}

    training = Command(tmp_path, "train", env=env)
    training.wait_for_output("training on")
    spare_cluster.stop()
    assert_says_the_database_went_away(training.finish(), url)

    assert spare_cluster.ensure_running().rsplit("/", 1)[0] == url.rsplit("/", 1)[0]  # same port
    assert rows(url, "SELECT count(*) FROM model_versions") == [(0,)]
    again = run_cli("train", env=env)
    assert again.returncode == 0, again.stderr
    state = assert_registry_sane(url)
    assert len(state["champions"]) == 1 and list(state["statuses"].values()) == ["champion"]

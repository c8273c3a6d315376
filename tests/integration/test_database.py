"""Migrations, the embedded cluster and the CLI against a real PostgreSQL."""

import json
import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest

from taskcode import db
from taskcode.errors import DatabaseError
from taskcode.localpg import LocalCluster
from tests.conftest import run_cli


def _tables(conn):
    with db.transaction(conn) as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in cur.fetchall()}


def test_migrate_twice_is_a_no_op(settings):
    with db.connection(settings) as conn:
        first = db.migrate(conn)
        assert first and first[0] == "001_initial.sql"
        tables = _tables(conn)
        assert {
            "people",
            "tracks",
            "likes",
            "audio_features",
            "sync_state",
            "runs",
            "model_versions",
            "maps",
            "map_points",
        } <= tables
        assert "model_aliases" not in tables  # the champion is recorded once: model_versions.status
        assert db.migrate(conn) == []
        assert _tables(conn) == tables
        with db.transaction(conn) as cur:
            cur.execute("SELECT count(*) FROM schema_migrations")
            assert cur.fetchone()[0] == len(db.migration_files())


def test_edited_migration_is_refused(settings, tmp_path):
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "001_a.sql").write_text("CREATE TABLE a (x int);")
    with db.connection(settings) as conn:
        assert db.migrate(conn, sql_dir) == ["001_a.sql"]
        (sql_dir / "001_a.sql").write_text("CREATE TABLE a (x int, y int);")
        with pytest.raises(DatabaseError, match="changed after it was applied"):
            db.migrate(conn, sql_dir)


def test_failing_migration_leaves_nothing_half_applied(settings, tmp_path):
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "001_ok.sql").write_text("CREATE TABLE ok (x int);")
    (sql_dir / "002_bad.sql").write_text("CREATE TABLE half (x int); SELECT * FROM no_such_table;")
    with db.connection(settings) as conn:
        with pytest.raises(DatabaseError, match='migration failed: relation "no_such_table" does not exist'):
            db.migrate(conn, sql_dir)
        tables = _tables(conn)
        assert "ok" in tables and "half" not in tables
        assert db.pending_migrations(conn, sql_dir) == ["002_bad.sql"]


def test_keys_make_duplicate_likes_impossible(conn):
    with db.transaction(conn) as cur:
        cur.execute("INSERT INTO people (name) VALUES ('alice') RETURNING person_id")
        person = cur.fetchone()[0]
        cur.execute("INSERT INTO tracks (track_id) VALUES ('t1')")
        cur.execute("INSERT INTO likes (person_id, track_id, added_at) VALUES (%s, 't1', now())", (person,))
    with pytest.raises(psycopg2.errors.UniqueViolation):
        with db.transaction(conn) as cur:
            cur.execute("INSERT INTO likes (person_id, track_id, added_at) VALUES (%s, 't1', now())", (person,))
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        with db.transaction(conn) as cur:
            cur.execute("INSERT INTO likes (person_id, track_id, added_at) VALUES (%s, 'nope', now())", (person,))


def test_only_one_champion_can_exist(conn):
    with db.transaction(conn) as cur:
        for _ in range(2):
            cur.execute(
                """INSERT INTO model_versions (people, config, data_fingerprint, artifact)
                   VALUES ('{a,b}', '{}', 'f', '\\x00')"""
            )
        cur.execute("UPDATE model_versions SET status = 'champion' WHERE version = 1")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        with db.transaction(conn) as cur:
            cur.execute("UPDATE model_versions SET status = 'champion' WHERE version = 2")


def test_status_json_on_empty_database(settings):
    result = run_cli("status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"users": {}, "tracks": 0, "tracks_with_features": 0, "champion": None, "map": None}


def test_status_counts_likes_removed_and_features(conn, settings):
    with db.transaction(conn) as cur:
        cur.execute("INSERT INTO people (name) VALUES ('alice'), ('bob')")
        cur.execute("INSERT INTO tracks (track_id) VALUES ('t1'), ('t2'), ('t3')")
        cur.execute(
            """INSERT INTO likes (person_id, track_id, added_at, removed_at)
               SELECT person_id, t, now(), CASE WHEN t = 't3' THEN now() END
                 FROM people, unnest(ARRAY['t1', 't2', 't3']) t WHERE name = 'alice'"""
        )
        cur.execute("INSERT INTO audio_features (track_id, source, energy) VALUES ('t1', 'csv', 0.5)")
    result = run_cli("status", "--json")
    report = json.loads(result.stdout)
    never = {"last_sync": None, "authorized_at": None, "token_expires_at": None, "needs_authorize": True}
    assert report["users"]["alice"] == {"likes": 2, "removed": 1, **never}
    assert report["users"]["bob"] == {"likes": 0, "removed": 0, **never}
    assert report["tracks"] == 3 and report["tracks_with_features"] == 1


def test_unreachable_database_is_one_line_error(write_config, pg_cluster):
    path = write_config("")
    result = run_cli(
        "status",
        "--json",
        env={"TASKCODE_CONFIG": str(path), "DATABASE_URL": "postgresql://u:hunter22@127.0.0.1:1/x"},
    )
    assert result.returncode == 3
    assert result.stderr.startswith("error: cannot connect to PostgreSQL at 127.0.0.1:1/x")
    assert result.stderr.count("\n") == 1
    assert "hunter22" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_cancelled_statement_is_not_called_a_lost_connection(conn):
    with pytest.raises(psycopg2.OperationalError) as cancelled:
        with db.transaction(conn) as cur:
            cur.execute("SET LOCAL statement_timeout = 10")
            cur.execute("SELECT pg_sleep(5)")
    message = str(db.operational_error(cancelled.value))
    assert message.startswith(
        "PostgreSQL stopped this run's transaction (canceling statement due to statement timeout)"
    )
    assert "\n" not in message
    with db.transaction(conn) as cur:  # the connection is fine: it was never lost
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_bad_config_is_one_line_error(write_config):
    path = write_config("model:\n  hidden_layers: []\n")
    result = run_cli("db", "migrate", env={"TASKCODE_CONFIG": str(path)})
    assert result.returncode == 2
    assert result.stderr.startswith("error: config: 'model.hidden_layers' must be a non-empty list")
    assert result.stderr.count("\n") == 1


def test_usage_error_exits_non_zero():
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_embedded_cluster_is_created_then_reused(write_config, tmp_path):
    """With no DATABASE_URL, the CLI starts its own cluster and reuses it."""
    data_dir = Path(tempfile.mkdtemp(prefix="taskcode-test-embedded-"))
    data_dir.chmod(0o755)
    path = write_config(f"paths:\n  data_dir: {data_dir}\n")
    env = {"TASKCODE_CONFIG": str(path)}
    try:
        first = run_cli("status", "--json", env=env)
        assert first.returncode == 0, first.stderr
        assert "creating the local PostgreSQL cluster" in first.stderr
        assert json.loads(first.stdout)["tracks"] == 0
        pid = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0]

        second = run_cli("status", "--json", env=env)
        assert second.returncode == 0, second.stderr
        assert "creating the local PostgreSQL cluster" not in second.stderr
        assert "starting the local PostgreSQL" not in second.stderr
        assert (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0] == pid
        assert oct((data_dir / "postgres.password").stat().st_mode)[-3:] == "600"

        stopped = run_cli("db", "stop", env=env)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        third = run_cli("status", "--json", env=env)
        assert third.returncode == 0, third.stderr
        assert "starting the local PostgreSQL" in third.stderr
        assert "creating" not in third.stderr
    finally:
        LocalCluster(data_dir).stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_missing_server_programs_say_what_to_install(monkeypatch, tmp_path):
    from taskcode import localpg

    monkeypatch.setattr(localpg.shutil, "which", lambda name: None)
    monkeypatch.setattr(localpg.glob, "glob", lambda pattern: [])
    with pytest.raises(DatabaseError, match="apt-get install -y postgresql"):
        LocalCluster(tmp_path).ensure_running()

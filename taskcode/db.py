"""The one database layer: connections, transactions, migrations.

Every stage opens its connection here, so that the embedded default, the
error messages and the transaction rules are the same everywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import psycopg2.extras

from taskcode.config import PROJECT_ROOT, Settings
from taskcode.errors import DatabaseError

log = logging.getLogger(__name__)

SQL_DIR = PROJECT_ROOT / "sql"
MIGRATION_LOCK = 73011  # pg_advisory_lock key: one migrator at a time
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def database_url(settings: Settings) -> str:
    """DATABASE_URL if set, else the embedded local cluster (started if needed)."""
    if settings.database.url:
        return settings.database.url
    from taskcode.localpg import LocalCluster

    return LocalCluster(settings.paths.data_dir).ensure_running()


def describe_url(url: str) -> str:
    """host:port/db of a URL, without user or password: safe for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or ''}"


def connect(settings: Settings, *, application_name: str = "taskcode"):
    """Open a connection; an unreachable server is a one-line DatabaseError."""
    url = database_url(settings)
    try:
        conn = psycopg2.connect(url, application_name=application_name, connect_timeout=10)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        reason = reason.replace(url, describe_url(url))
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {describe_url(url)} ({reason}); "
            "check DATABASE_URL and that the server is running"
        ) from None
    return conn


@contextlib.contextmanager
def connection(settings: Settings, **kwargs):
    conn = connect(settings, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def transaction(conn):
    """Commit everything in the block, or nothing."""
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def operational_error(exc: psycopg2.Error) -> DatabaseError:
    """A database fault mid-run (psycopg2's OperationalError family) as a one-line error for the CLI.

    Most are a lost connection; a deadlock, a serialization failure or a
    cancelled statement come from a server that is up, and say so.
    """
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, (psycopg2.extensions.TransactionRollbackError, psycopg2.extensions.QueryCanceledError)):
        return DatabaseError(
            f"PostgreSQL stopped this run's transaction ({first}); nothing half-done was "
            "committed: run the command again"
        )
    return DatabaseError(f"lost the database connection ({first}); run the command again when PostgreSQL is back")


# --------------------------------------------------------------------------
# Migrations


def migration_files(sql_dir: Path = SQL_DIR) -> list[tuple[int, str, str]]:
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise DatabaseError(f"{path} is not named like 001_description.sql; rename it")
        found.append((int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [version for version, _, _ in found]
    if len(versions) != len(set(versions)):
        raise DatabaseError(f"two migrations in {sql_dir} share a number; renumber one")
    return found


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def migrate(conn, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply the migrations not applied yet, each in its own transaction.

    Returns the names applied. Safe to run twice and from two processes at
    once (an advisory lock serialises them); an applied file that was edited
    afterwards is an error, because the database would not match the code.
    """
    applied_now = []
    with transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        with transaction(conn) as cur:
            cur.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    integer PRIMARY KEY,
                       name       text NOT NULL,
                       checksum   text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            cur.execute("SELECT version, name, checksum FROM schema_migrations")
            done = {row[0]: (row[1], row[2]) for row in cur.fetchall()}
        for version, name, text in migration_files(sql_dir):
            if version in done:
                if done[version][1] != _checksum(text):
                    raise DatabaseError(
                        f"migration {name} changed after it was applied; "
                        "add a new numbered migration instead of editing an applied one"
                    )
                continue
            with transaction(conn) as cur:
                cur.execute(text)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (version, name, _checksum(text)),
                )
            log.info("applied migration %s", name)
            applied_now.append(name)
    except psycopg2.Error as exc:
        conn.rollback()
        first = str(exc).strip().splitlines()[0]
        raise DatabaseError(f"migration failed: {first}") from None
    finally:
        with transaction(conn) as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return applied_now


def pending_migrations(conn, sql_dir: Path = SQL_DIR) -> list[str]:
    with transaction(conn) as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return [name for _, name, _ in migration_files(sql_dir)]
        cur.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in cur.fetchall()}
    return [name for version, name, _ in migration_files(sql_dir) if version not in done]


def open_migrated(settings: Settings, **kwargs):
    """A connection to an up-to-date schema: what every command starts from."""
    conn = connect(settings, **kwargs)
    try:
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def migrated(settings: Settings, **kwargs):
    """`with db.migrated(settings) as conn:` an up-to-date schema, closed after the block."""
    with connection(settings, **kwargs) as conn:
        migrate(conn)
        yield conn

"""The reliability suite's tools: real processes, kill points, and probes of the database.

Everything here observes the system from outside, as an operator would:
- `Command` runs `python -m taskcode ...` as a real process (output in files);
- kill points are conditions seen from outside: the emulator's request log
  ("k pages answered"), a line the process logs ("training on ..."), or
  `pg_stat_activity` showing a write in progress. To hit the write itself,
  `slow_writes` installs a test-only trigger that makes a table's INSERTs
  (or UPDATEs) sleep inside the statement, in the test database only;
- `wait_until` polls a condition with a deadline: the condition, never a
  fixed sleep, is what synchronises a test with the process it watches.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import pytest

from taskcode import queries
from taskcode.localpg import LocalCluster
from tests.conftest import PROJECT_ROOT

# Fast retries, 20 songs a page (more pages from a small library), a small
# model and a short map: the behaviour under test, not the model, matters here.
CONFIG = """
spotify:
  backoff_initial_seconds: 0.05
  backoff_max_seconds: 0.2
  page_size: 20
model:
  hidden_layers: [8, 4]
  epochs: 8
  patience: 2
  min_tracks_per_person: 10
map:
  n_iter: 250
"""
# Trained long enough to beat guessing, or a weak champion, by the gate's evidence on a small library.
TRAINED = CONFIG.replace("hidden_layers: [8, 4]", "hidden_layers: [16, 8]").replace("epochs: 8", "epochs: 40")
APP_NAMES = ("taskcode", "taskcode-pipeline")  # application_name of the pipeline's connections


# --------------------------------------------------------------------------
# Waiting


def wait_until(condition, what: str, timeout: float = 60, interval: float = 0.01):
    """Poll `condition()` until it returns something truthy (returned); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)  # the pace of polling; the condition is what synchronises


# --------------------------------------------------------------------------
# Real processes


class Command:
    """`python -m taskcode ARGS` as a running process; stdout and stderr go to files."""

    def __init__(self, folder: Path, *args: str, env: dict):
        self.args = args
        self.folder = Path(tempfile.mkdtemp(prefix="cmd-", dir=folder))
        self.stdout_path, self.stderr_path = self.folder / "stdout", self.folder / "stderr"
        full_env = {**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT)}
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "taskcode", *args],
                env=full_env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_for_output(self, text: str, timeout: float = 120) -> None:
        def seen():
            if text in self.stderr or text in self.stdout:
                return True
            assert self.running(), f"{self.args} ended before printing {text!r}:\n{self.stderr[-3000:]}"
            return False

        wait_until(seen, f"{self.args} to print {text!r}", timeout)

    def kill(self) -> None:
        """SIGKILL, and check that it was the kill (not a normal end) that stopped the process."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        assert self.process.returncode == -signal.SIGKILL, (
            f"{self.args} ended (exit {self.process.returncode}) before it could be killed:\n{self.stderr[-3000:]}"
        )

    def finish(self, timeout: float = 300) -> subprocess.CompletedProcess:
        self.process.wait(timeout=timeout)
        return subprocess.CompletedProcess(self.args, self.process.returncode, self.stdout, self.stderr)


def one_line_error(result: subprocess.CompletedProcess, exit_code: int) -> str:
    """The command failed the expected way: that exit code, no traceback, one `error:` line last."""
    assert result.returncode == exit_code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr[-3000:]
    assert sum(line.startswith("error: ") for line in result.stderr.splitlines()) == 1
    return last


def cli_env(emulator, url: str, config: Path, **extra) -> dict:
    env = {"DATABASE_URL": url, "TASKCODE_CONFIG": str(config), **extra}
    return {**(emulator.env() if emulator is not None else {}), **env}


# --------------------------------------------------------------------------
# The database, from outside


def rows(url: str, sql: str, params=()) -> list[tuple]:
    with probe(url) as ask:
        return ask(sql, params)


@contextlib.contextmanager
def probe(url: str):
    """`with probe(url) as ask: ask(sql, params)`: one autocommit connection for many questions
    (polling with a new connection each time would keep the server busy authenticating)."""
    conn = psycopg2.connect(url)
    conn.autocommit = True

    def ask(sql, params=()) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    try:
        yield ask
    finally:
        conn.close()


def execute(url: str, sql: str, params=()) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
    finally:
        conn.close()


def slow_writes(url: str, table: str, seconds: float, *, event: str = "INSERT", each_row: bool = False) -> None:
    """A test-only trigger: every INSERT (or UPDATE) on `table` sleeps `seconds` inside the statement
    (per statement, or per row), so that a kill can land while the write is in progress."""
    execute(
        url,
        """
        CREATE OR REPLACE FUNCTION reliability_slow_write() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_sleep(TG_ARGV[0]::float8);
            RETURN CASE WHEN TG_LEVEL = 'ROW' THEN NEW END;
        END $$""",
    )
    level = "ROW" if each_row else "STATEMENT"
    execute(
        url,
        f"""CREATE TRIGGER reliability_slow_{table}_{event.lower()} BEFORE {event} ON {table}
                     FOR EACH {level} EXECUTE FUNCTION reliability_slow_write('{float(seconds)}')""",
    )


def fast_writes(url: str, table: str, *, event: str = "INSERT") -> None:
    """Remove the trigger of `slow_writes` (waits for writers still inside a statement on the table)."""
    execute(url, f"DROP TRIGGER IF EXISTS reliability_slow_{table}_{event.lower()} ON {table}")


def active_writes(ask, table: str, event: str = "INSERT") -> set[tuple]:
    """(pid, query start) of the pipeline's statements writing `table` right now (`ask`: see `probe`).

    An INSERT also comes as `COPY table FROM STDIN` (the map's points), which fires the same triggers.
    """
    verbs = [f"INSERT INTO {table}%", f"COPY {table}%"] if event == "INSERT" else [f"UPDATE {table}%"]
    return set(
        ask(
            """
        SELECT pid, query_start FROM pg_stat_activity
         WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
           AND application_name = ANY(%s) AND ltrim(query) ILIKE ANY(%s)""",
            (list(APP_NAMES), verbs),
        )
    )


def wait_for_write(url: str, table: str, command: Command, occurrence: int = 1, event: str = "INSERT") -> None:
    """Until the `occurrence`-th distinct statement writing `table` is in progress."""
    seen: set[tuple] = set()

    with probe(url) as ask:

        def reached():
            seen.update(active_writes(ask, table, event))
            if len(seen) >= occurrence:
                return True
            assert command.running(), f"{command.args} ended before writing {table}:\n{command.stderr[-3000:]}"
            return False

        wait_until(reached, f"write #{occurrence} to {table} by {command.args}", timeout=120, interval=0.005)


def wait_for_backends_gone(url: str) -> None:
    """A killed client's server processes finish the statement they were in, then notice and roll back."""
    with probe(url) as ask:
        wait_until(
            lambda: (
                not ask(
                    """SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                                 AND pid <> pg_backend_pid() AND application_name = ANY(%s)""",
                    (list(APP_NAMES),),
                )
            ),
            "the killed command's database sessions to end",
            timeout=60,
        )


SNAPSHOT_QUERIES = {
    "likes": """SELECT p.name, l.track_id, l.added_at, l.removed_at IS NOT NULL
                  FROM likes l JOIN people p USING (person_id) ORDER BY 1, 2""",
    "tracks": """SELECT track_id, name, artists, artist_ids, album_id, album_name, release_date,
                        release_year, duration_ms, explicit FROM tracks ORDER BY 1""",
    "features": """SELECT track_id, source, danceability, energy, key, loudness, mode, speechiness,
                          acousticness, instrumentalness, liveness, valence, tempo, time_signature,
                          duration_ms FROM audio_features ORDER BY 1""",
    "watermarks": """SELECT p.name, s.watermark_added_at, s.watermark_track_ids
                       FROM sync_state s JOIN people p USING (person_id) ORDER BY 1""",
    "misses": "SELECT track_id FROM feature_misses ORDER BY 1",
}


def snapshot(url: str) -> dict:
    """Everything a sync writes, minus the moments at which it wrote it."""
    return {name: rows(url, sql) for name, sql in SNAPSHOT_QUERIES.items()}


def assert_sync_consistent(url: str, library) -> None:
    """What a kill may leave: each person's likes all or nothing, and the watermark agreeing with them."""
    stored: dict[str, dict] = {}
    for name, track_id, added_at in rows(
        url,
        """
            SELECT p.name, l.track_id, l.added_at FROM likes l JOIN people p USING (person_id)
             WHERE l.removed_at IS NULL""",
    ):
        stored.setdefault(name, {})[track_id] = added_at
    marks = {
        name: (added_at, set(ids))
        for name, added_at, ids in rows(
            url,
            """
        SELECT p.name, s.watermark_added_at, s.watermark_track_ids FROM sync_state s JOIN people p USING (person_id)""",
        )
    }
    for person in library.people:
        likes = stored.get(person.name, {})
        expected = {like.track_id for like in library.likes_of(person.name)}
        assert set(likes) in (set(), expected), f"{person.name}: {len(likes)} of {len(expected)} likes stored"
        if not likes:
            assert person.name not in marks, f"{person.name}: a watermark without likes"
            continue
        assert person.name in marks, f"{person.name}: likes stored without their watermark"
        newest = max(likes.values())
        assert marks[person.name] == (newest, {t for t, at in likes.items() if at == newest}), person.name
    assert rows(
        url, "SELECT count(*) FROM audio_features f LEFT JOIN tracks t USING (track_id) WHERE t.track_id IS NULL"
    ) == [(0,)]


def registry_state(url: str) -> dict:
    """The registry as the pipeline and dashboard see it: statuses, the champion, who replaced whom."""
    versions = rows(url, "SELECT version, status, replaces, data_fingerprint FROM model_versions ORDER BY version")
    with queries.read_only(url) as conn:
        served = queries.champion(conn)  # the dashboard's own question
    champions = [v for v, status, _, _ in versions if status == "champion"]
    return {
        "statuses": {v: status for v, status, _, _ in versions},
        "replaces": {v: replaces for v, _, replaces, _ in versions},
        "fingerprints": {v: fingerprint for v, _, _, fingerprint in versions},
        "champions": champions,
        "served": served["version"] if served else None,
    }


def assert_registry_sane(url: str) -> dict:
    """Never half-promoted: at most one champion, the one the dashboard serves, its artifact loads and predicts."""
    state = registry_state(url)
    assert len(state["champions"]) <= 1, state
    assert state["served"] == (state["champions"][0] if state["champions"] else None), state
    if state["champions"]:
        from taskcode import dataset, registry
        from taskcode.model import probabilities

        conn = psycopg2.connect(url)
        try:
            version, people, model = registry.load_champion(conn)
            frame = dataset.feature_frame(conn).head(20)
            proba = probabilities(model, frame)
        finally:
            conn.close()
        assert version == state["champions"][0] and len(people) == proba.shape[1]
        assert abs(proba.sum(axis=1) - 1).max() < 1e-4
    return state


# --------------------------------------------------------------------------
# The dashboard, reading while the pipeline writes


class DashboardReader:
    """A thread asking the dashboard's own read-only questions in a loop, keeping what it saw.

    `observations` holds (likes per person, tracks, {map_id: point count or None}) tuples.
    A map's points are read with `queries.map_points` after `queries.newest_maps`, as
    the map page does; None: the map was replaced in between (the page says so), which
    a second look at `newest_maps` tells apart from a listed map without points.
    """

    def __init__(self, url: str):
        self.url = url
        self.observations: list[tuple] = []
        self.duplicates: list[int] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dashboard-reader", daemon=True)

    def __enter__(self) -> DashboardReader:
        self._thread.start()
        wait_until(lambda: self.observations or self.errors, "the reader's first look")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        if self.errors and exc[0] is None:
            raise self.errors[0]

    def _loop(self) -> None:
        try:
            with queries.read_only(self.url) as conn:
                while not self._stop.is_set():
                    people = queries.people(conn)
                    likes = dict(zip(people["person"], people["likes"]))
                    tracks = queries.overview(conn)["tracks"]
                    maps = {}
                    for map_id in queries.newest_maps(conn)["map_id"]:
                        points = queries.map_points(conn, int(map_id))
                        if points["track_id"].duplicated().any():
                            self.duplicates.append(int(map_id))
                        if points.empty and map_id not in set(queries.newest_maps(conn)["map_id"]):
                            maps[int(map_id)] = None  # replaced between the two questions
                        else:
                            maps[int(map_id)] = len(points)
                    self.observations.append((likes, tracks, maps))
                    self._stop.wait(0.02)  # pace: leave the machine's two cores to the pipeline
        except BaseException as exc:  # reported by __exit__
            self.errors.append(exc)

    def look_again(self) -> None:
        """Until the reader has asked everything at least once more, from the start."""
        seen = len(self.observations)
        wait_until(lambda: len(self.observations) >= seen + 2 or self.errors, "the reader to look again")

    def like_counts(self, name: str) -> list[int]:
        return [likes.get(name, 0) for likes, _, _ in self.observations]

    def map_sizes(self) -> dict[int, set]:
        sizes: dict[int, set] = {}
        for _, _, maps in self.observations:
            for map_id, count in maps.items():
                sizes.setdefault(map_id, set()).add(count)
        return sizes


def changes(values: list) -> list:
    """The distinct values of a sequence, in the order they appeared (runs collapsed)."""
    out = []
    for value in values:
        if not out or out[-1] != value:
            out.append(value)
    return out


# --------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def config(write_config):
    return write_config(CONFIG)


@pytest.fixture
def catalog_config(write_config, tmp_path):
    """The suite's config with a catalog file of a library, so that every feature source exists.

    `spotify_first`: Spotify's /audio-features asked before the others, as an extended-quota app may.
    """

    def write(library, spotify_first: bool = False):
        catalog = tmp_path / "catalog.csv"
        library.write_catalog(catalog)
        sources = "features:\n  sources: [spotify, reccobeats, csv]\n" if spotify_first else ""
        return write_config(CONFIG + f"paths:\n  catalog_csv: {catalog}\n" + sources)

    return write


@pytest.fixture(scope="module")
def spare_cluster():
    """A PostgreSQL cluster of this module's own, for tests that stop the server or create
    cluster-wide roles: the session's cluster stays up and clean. Call `ensure_running()`."""
    folder = Path(tempfile.mkdtemp(prefix="taskcode-test-spare-pg-"))
    folder.chmod(0o755)  # as root, the cluster belongs to the 'postgres' user
    cluster = LocalCluster(folder, durable=False)
    cluster.ensure_running()
    yield cluster
    cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)


def authorize_everyone(emulator, url: str, config: Path, names: dict | None = None) -> None:
    """Every person of the emulator's library authorized with their refresh token (in-process:
    authorizing is not under test where this is used). `names` maps library names to local names."""
    from taskcode import db
    from taskcode.authorize import authorize
    from taskcode.config import load_settings

    settings = load_settings(config, env=cli_env(emulator, url, config))
    with db.connection(settings) as conn:
        db.migrate(conn)
        for person in emulator.library.people:
            local = (names or {}).get(person.name, person.name)
            authorize(settings, conn, local, refresh_token=emulator.refresh_token(person.name))
    emulator.clear_requests()


def answered(emulator, *endpoints: str) -> int:
    """Calls the emulator answered with 200 on these endpoints so far."""
    return sum(1 for endpoint in endpoints for r in emulator.requests(endpoint) if r["status"] == 200)


def wait_for_calls(emulator, endpoints: tuple[str, ...], count: int, command: Command) -> None:
    def reached():
        if answered(emulator, *endpoints) >= count:
            return True
        assert command.running(), f"{command.args} ended before {count} answered calls:\n{command.stderr[-3000:]}"
        return False

    wait_until(reached, f"{count} answered calls to {', '.join(endpoints)}", timeout=120, interval=0.005)


@pytest.fixture(scope="module")
def module_database(pg_cluster):
    """`module_database(name)`: a fresh database in the session's cluster, dropped after the module."""
    from tests.conftest import _admin

    made = []
    base = pg_cluster.url.rsplit("/", 1)[0]

    def make(name: str) -> str:
        full = f"{name}_{os.getpid()}"
        _admin(pg_cluster.url, f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)')
        _admin(pg_cluster.url, f'CREATE DATABASE "{full}"')
        made.append(full)
        return f"{base}/{full}"

    yield make
    for name in made:
        _admin(pg_cluster.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

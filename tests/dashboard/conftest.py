"""Dashboard fixtures: a database filled as the pipeline fills it, and the app under AppTest.

`filled_db` is the contract the dashboard tests rely on. It is built in two
steps so that the stand-in can be swapped for the real pipeline later
without touching a test:

1. `fill`: two nights of the real pipeline (sync's rows via
   `load_into_database`, train, the F1 gate, embed, discover), two likes
   removed by a full sync, then a crashed embed that left an incomplete map
   (and a failed run) behind;
2. `describe`: read back from the database, with the dashboard's own read-only
   queries, the facts the tests compare with (champion, map sizes, a song on
   the map, ...). Tests never look at what step 1 computed.

What the tests need from step 1: a champion and one more version with a
complete map of a different size (night 1 knew fewer songs); shared and
out-of-place songs on the champion's map; some synced tracks without audio
features; discoveries for the champion; two removed likes and a failed run.

Filling runs once per session into a template database; each test gets its
own copy (`CREATE DATABASE ... TEMPLATE`), so a slow real pipeline would
still cost only once.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from emulator import Library, generate
from emulator.database import load_into_database
from taskcode import db, embed, predict, promotion, queries, train
from taskcode.config import load_settings
from tests.conftest import _admin
from tests.dashboard import rare_nights

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
UNKNOWN_TRACK_ID = "0000000000000000000000"  # a valid id that no library contains
_copies = itertools.count()


def dashboard_module(name: str):
    """A module of the dashboard folder (`mapfigure`), under its bare name, as the app imports it."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, APP.parent / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass(frozen=True)
class FilledDatabase:
    url: str
    config_path: Path  # for TASKCODE_CONFIG
    people: list[str]  # the champion's people, in its order
    champion: int  # champion version
    champion_map_points: int  # points of the champion's newest complete map
    other_version: int  # another version with a complete map
    other_map_points: int
    incomplete_map_ids: list[int]
    known_track: dict  # a song on the champion's map: track_id, name, artists, probabilities
    unknown_track_id: str  # a valid track id the database does not know
    discoveries: int  # discovery rows of the champion


def describe(url: str, config_path: Path) -> FilledDatabase:
    """The facts tests need, read back from the database (whatever filled it)."""
    with queries.read_only(url) as conn:
        champion = queries.champion(conn)
        newest = queries.newest_maps(conn).set_index("model_version")
        others = [v for v in newest.index if v != champion["version"]]
        points = queries.map_points(conn, int(newest.loc[champion["version"], "map_id"]))
        other_points = queries.map_points(conn, int(newest.loc[others[0], "map_id"]))
        # A song with a name no other song contains, so that a search finds exactly it.
        names = points["name"].tolist()
        unique = points[[sum(n in other for other in names) == 1 for n in names]]
        known = unique.sort_values("track_id").iloc[len(unique) // 2]
        with conn.cursor() as cur:
            cur.execute("SELECT map_id FROM maps WHERE NOT complete ORDER BY map_id")
            incomplete = [row[0] for row in cur.fetchall()]
        discoveries = queries.discoveries(conn, champion["version"])
    return FilledDatabase(
        url=url,
        config_path=config_path,
        people=list(champion["people"]),
        champion=champion["version"],
        champion_map_points=len(points),
        other_version=int(others[0]),
        other_map_points=len(other_points),
        incomplete_map_ids=incomplete,
        known_track={
            "track_id": known["track_id"],
            "name": known["name"],
            "artists": known["artists"],
            "x": float(known["x"]),
            "y": float(known["y"]),
            "probabilities": dict(zip(champion["people"], known["probabilities"])),
        },
        unknown_track_id=UNKNOWN_TRACK_ID,
        discoveries=len(discoveries),
    )


NIGHT_ONE_MODEL = """
model:
  hidden_layers: [4]
  epochs: 5
  patience: 2
"""
NIGHT_TWO_MODEL = """
model:
  hidden_layers: [16, 8]
  epochs: 30
  patience: 3
"""


def fill(conn, url: str, folder: Path) -> None:
    """A migrated, empty database -> as two nights of the pipeline leave it (2 people x 300 likes, seed 7)."""
    library = generate(people=2, tracks=300, seed=7, catalog_extra=200)
    catalog = folder / "catalog.csv"
    library.write_catalog(catalog)
    common = f"map:\n  n_iter: 250\npaths:\n  catalog_csv: {catalog}\n"

    def night(config: str, likes: Library) -> None:
        path = folder / "config.yml"
        path.write_text(config + common)
        settings = load_settings(path, env={"DATABASE_URL": url})
        load_into_database(conn, likes)
        version = train.train(settings, conn).version
        assert promotion.evaluate_and_promote(settings, conn, version).promoted
        embed.embed(settings, conn)
        predict.store_discoveries(settings, conn, top=10)

    newest = {p.name: {like.track_id for like in library.likes_of(p.name)[:30]} for p in library.people}
    first_night = Library(
        library.seed,
        library.people,
        library.tracks,
        [like for like in library.likes if like.track_id not in newest[like.person]],
    )
    night(NIGHT_ONE_MODEL, first_night)  # a small first model, before each person's 30 newest likes
    night(NIGHT_TWO_MODEL, library)  # everything synced, a better model: the champion
    rare_nights.sync_full_removes_two_likes(conn, library)
    champion = queries.champion(conn)["version"]
    rare_nights.simulate_crashed_embed(conn, champion)  # must never be shown


@pytest.fixture(scope="session")
def filled_template(pg_cluster, tmp_path_factory):
    """One filled database per session; each test gets a copy (CREATE DATABASE ... TEMPLATE)."""
    name = f"dashboard_template_{os.getpid()}"
    admin_url = pg_cluster.url
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    conn = psycopg2.connect(url)
    try:
        db.migrate(conn)
        fill(conn, url, tmp_path_factory.mktemp("dashboard-fill"))
    finally:
        conn.close()  # a template must have no open connections while it is copied
    yield name, describe(url, Path("unset"))
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def filled_db(filled_template, pg_cluster, write_config, monkeypatch) -> FilledDatabase:
    """A fresh copy of the filled database; DATABASE_URL and TASKCODE_CONFIG point at it."""
    template, facts = filled_template
    name = f"test_{os.getpid()}_filled_{next(_copies)}"
    _admin(pg_cluster.url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = f"{pg_cluster.url.rsplit('/', 1)[0]}/{name}"
    config_path = write_config("")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TASKCODE_CONFIG", str(config_path))
    yield dataclasses.replace(facts, url=url, config_path=config_path)
    _admin(pg_cluster.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db(conn, database_url, settings):
    """A migrated database with no rows at all."""
    return database_url


@pytest.fixture
def app():
    """The dashboard under AppTest (environment: DATABASE_URL and TASKCODE_CONFIG of the test)."""
    from streamlit.testing.v1 import AppTest

    def start(page: str | None = None):
        test = AppTest.from_file(str(APP), default_timeout=60)
        test.run()
        if page:
            test.switch_page(page).run()
        return test

    return start

"""The map: one point per song for the champion, stable across nights, written atomically."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import psycopg2
import pytest

from emulator import generate
from emulator.database import load_into_database, track_row
from emulator.library import Library
from taskcode import db, embed, promotion, registry, store, train
from taskcode.config import Settings, load_settings
from taskcode.errors import DataError
from taskcode.items import SavedTrack, parse_timestamp
from taskcode.status import status
from tests.integration.conftest import SMALL_MODEL

LIBRARY = dict(people=2, tracks=150, seed=3)


class Mapped(NamedTuple):
    settings: Settings
    conn: object
    library: Library
    version: int  # the champion's
    map_id: int  # its first map


@pytest.fixture
def mapped(template_database, write_config, monkeypatch):
    """A library of 2 x 150 songs, a champion trained on it and its first map (built once, copied per test)."""
    settings_path = write_config(SMALL_MODEL)

    def build(url):
        monkeypatch.setenv("DATABASE_URL", url)
        settings = load_settings(settings_path)
        with db.connection(settings) as conn:
            db.migrate(conn)
            load_into_database(conn, generate(**LIBRARY))
            version = train.train(settings, conn).version
            assert promotion.evaluate_and_promote(settings, conn, version).promoted
            embed.embed(settings, conn)

    url = template_database("mapped_2x150", build)
    monkeypatch.setenv("DATABASE_URL", url)
    settings = load_settings(settings_path)
    conn = db.open_migrated(settings)
    with db.transaction(conn) as cur:
        cur.execute("SELECT model_version, map_id FROM maps WHERE complete")
        version, map_id = cur.fetchone()
    yield Mapped(settings, conn, generate(**LIBRARY), version, map_id)
    conn.close()


def points(conn, map_id=None):
    with db.transaction(conn) as cur:
        if map_id is None:
            cur.execute("SELECT max(map_id) FROM maps WHERE complete")
            map_id = cur.fetchone()[0]
        cur.execute(
            "SELECT track_id, x, y, placed, owners, predicted, out_of_place FROM map_points WHERE map_id = %s",
            (map_id,),
        )
        return {row[0]: row[1:] for row in cur.fetchall()}


def like_new_songs(conn, library, name, count, seed):
    """New likes with features, as tonight's sync and features stages would store them."""
    rng = np.random.default_rng(seed)
    tracks = [library.new_track(name, rng) for _ in range(count)]
    with db.transaction(conn) as cur:
        [person] = store.get_people(cur, [name])
        store.upsert_tracks(cur, [track_row(t) for t in tracks])
        store.upsert_likes(
            cur, person.person_id, [SavedTrack(track_row(t), parse_timestamp("2026-11-24T20:00:00Z")) for t in tracks]
        )
        store.upsert_features(cur, [{"track_id": t["id"], "source": "spotify", **t["features"]} for t in tracks])
    return [t["id"] for t in tracks]


def test_every_song_with_features_gets_exactly_one_point(mapped):
    conn, library, first = mapped.conn, mapped.library, mapped.version
    with_features = {t for t, track in library.tracks.items() if track["known_by"]}
    mapped_points = points(conn)
    assert set(mapped_points) == with_features
    shared = [t for t, owners in library.owners().items() if len(owners) > 1 and t in with_features]
    assert all(len(mapped_points[t][3]) == 2 for t in shared)
    assert status(conn)["map"] == {"version": first, "points": len(with_features)}
    assert {p[2] for p in mapped_points.values()} == {"fit"}


def test_out_of_place_means_the_favourite_is_not_an_owner(mapped):
    for _x, _y, _placed, owners, predicted, out_of_place in points(mapped.conn).values():
        assert out_of_place == (predicted not in owners)
    assert 0 < sum(p[5] for p in points(mapped.conn).values()) < len(points(mapped.conn)) / 2


def test_new_songs_are_placed_and_old_points_do_not_move(mapped):
    settings, conn, library = mapped.settings, mapped.conn, mapped.library
    before = points(conn)
    new_ids = like_new_songs(conn, library, "alice", 12, seed=1) + like_new_songs(conn, library, "bob", 8, seed=2)
    result = embed.embed(settings, conn)
    after = points(conn)
    assert result.placed == 20 and result.fitted == 0 and result.version == mapped.version
    assert set(after) == set(before) | set(new_ids)
    for track_id, old in before.items():
        assert after[track_id][:2] == old[:2]  # the same coordinates, to the last bit
    xy = np.array([after[t][:2] for t in before])
    for track_id in new_ids:
        assert after[track_id][2] == "transform"
        x, y = after[track_id][:2]
        assert xy[:, 0].min() - 5 <= x <= xy[:, 0].max() + 5 and xy[:, 1].min() - 5 <= y <= xy[:, 1].max() + 5


def test_a_failed_write_leaves_the_previous_map_untouched(mapped, monkeypatch):
    settings, conn, library = mapped.settings, mapped.conn, mapped.library
    before = points(conn)
    like_new_songs(conn, library, "bob", 5, seed=4)
    real = store.copy_points

    def fail_after_some_rows(cur, map_id, points):
        real(cur, map_id, points.head(10))
        raise psycopg2.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(store, "copy_points", fail_after_some_rows)
    with pytest.raises(psycopg2.OperationalError):
        embed.embed(settings, conn)
    with db.transaction(conn) as cur:
        cur.execute("SELECT count(*) FROM maps WHERE NOT complete")
        assert cur.fetchone()[0] == 0
    assert points(conn) == before


def test_a_new_champion_gets_a_fresh_map(mapped, write_config):
    conn, library = mapped.conn, mapped.library
    like_new_songs(conn, library, "alice", 30, seed=5)
    settings = load_settings(write_config(SMALL_MODEL.replace("[16, 8]", "[24, 12]")))
    version = train.train(settings, conn, force=True).version
    with db.transaction(conn) as cur:  # promote by hand: this test is about the map, not the gate
        cur.execute("UPDATE model_versions SET status = 'retired' WHERE status = 'champion'")
        cur.execute("UPDATE model_versions SET status = 'champion' WHERE version = %s", (version,))
    result = embed.embed(settings, conn)
    assert result.version == version and result.fitted == result.points and result.placed == 0
    assert status(conn)["map"]["version"] == version
    with db.transaction(conn) as cur:
        cur.execute("SELECT count(DISTINCT model_version) FROM maps WHERE complete")
        assert cur.fetchone()[0] == 2


def test_first_embed_fits_every_point(conn, write_config):
    settings = load_settings(write_config(SMALL_MODEL))
    load_into_database(conn, generate(people=2, tracks=60, seed=9))
    version = train.train(settings, conn).version
    promotion.evaluate_and_promote(settings, conn, version)
    result = embed.embed(settings, conn)
    assert result.fitted == result.points == len(points(conn)) and result.placed == 0


def test_map_without_a_champion_says_what_to_do(conn, settings):
    load_into_database(conn, generate(people=2, tracks=30, seed=1))
    with pytest.raises(DataError, match="no champion model yet.*python -m taskcode train"):
        embed.embed(settings, conn)


def test_a_rollback_brings_the_champions_own_map_back(mapped, write_config):
    conn, first = mapped.conn, mapped.version
    settings = load_settings(write_config(SMALL_MODEL.replace("[16, 8]", "[24, 12]")))
    version = train.train(settings, conn, force=True).version
    with db.transaction(conn) as cur:  # promote by hand: this test is about the map, not the gate
        registry.move_champion(cur, version, first)
        registry.record_decision(cur, version, "promoted by the test", replaces=first)
    embed.embed(settings, conn)
    assert status(conn)["map"]["version"] == version
    assert promotion.rollback(conn).champion == first
    assert status(conn)["map"]["version"] == status(conn)["champion"]["version"] == first
    again = embed.embed(settings, conn)  # the champion's own map, extended, not drawn anew
    assert again.version == first and again.fitted == 0 and again.placed == 0


def assert_true_nearest_neighbours(conn, count=5):
    """Every point's stored neighbours are its `count` nearest other songs in the stored hidden vectors."""
    with db.transaction(conn) as cur:
        cur.execute(
            """SELECT track_id, hidden, neighbours FROM map_points
                WHERE map_id = (SELECT max(map_id) FROM maps WHERE complete) ORDER BY track_id"""
        )
        rows = cur.fetchall()
    ids = [row[0] for row in rows]
    position = {track_id: i for i, track_id in enumerate(ids)}
    hidden = np.array([row[1] for row in rows], dtype=float)
    distances = np.linalg.norm(hidden[:, None, :] - hidden[None, :, :], axis=2)
    np.fill_diagonal(distances, np.inf)
    for i, (track_id, _, stored) in enumerate(rows):
        assert len(stored) == count and len(set(stored)) == count and track_id not in stored
        fifth = np.sort(distances[i])[count - 1]
        # Ties and the stored vectors' rounding (5 decimals) aside, none is farther than the true fifth.
        assert all(distances[i, position[n]] <= fifth + 1e-3 for n in stored), track_id
        near = [distances[i, position[n]] for n in stored]
        assert all(a <= b + 1e-3 for a, b in zip(near, near[1:])), track_id  # nearest first


def test_every_point_stores_its_five_nearest_songs_in_hidden_space(mapped):
    assert_true_nearest_neighbours(mapped.conn)


def test_placed_songs_get_their_neighbours_and_known_songs_see_them(mapped):
    settings, conn, library = mapped.settings, mapped.conn, mapped.library
    new_ids = like_new_songs(conn, library, "alice", 15, seed=6)
    embed.embed(settings, conn)
    assert_true_nearest_neighbours(conn)
    with db.transaction(conn) as cur:
        cur.execute(
            """SELECT count(*) FROM map_points
                WHERE map_id = (SELECT max(map_id) FROM maps WHERE complete)
                  AND NOT (track_id = ANY(%s)) AND neighbours && %s""",
            (new_ids, new_ids),
        )
        assert cur.fetchone()[0] > 0  # some known songs now sit nearest a new one


def test_without_a_champion_the_nightly_step_skips_and_the_command_says_what_to_do(settings, conn):
    """The first model may not pass the gate yet (too few songs): the night goes on quietly, as
    discover and playlists do, while `embed` asked for by hand says what to run."""
    from taskcode import pipeline

    load_into_database(conn, generate(people=2, tracks=30, seed=3))
    assert pipeline.embed() == {"skipped": "no champion model yet, so there is nothing to map"}
    with pytest.raises(DataError, match="no champion model yet.*python -m taskcode train"):
        embed.embed(settings, conn)

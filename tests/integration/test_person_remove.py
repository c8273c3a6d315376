"""`person remove`: a person who leaves takes every row of theirs along; the others keep all of theirs."""

from __future__ import annotations

import pytest

from emulator import generate
from taskcode import db, embed, predict, promotion, sync, train
from tests.conftest import run_cli


@pytest.fixture
def sample_library():
    return generate(people=3, tracks=120, seed=7)


def person_id(conn, name):
    with db.transaction(conn) as cur:
        cur.execute("SELECT person_id FROM people WHERE name = %s", (name,))
        return cur.fetchone()[0]


def tables_referencing_people(conn) -> list[tuple[str, str]]:
    """(table, column) of every foreign key to people, whichever migration added it."""
    with db.transaction(conn) as cur:
        cur.execute(
            """SELECT c.conrelid::regclass::text, a.attname
                 FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
                WHERE c.contype = 'f' AND c.confrelid = 'people'::regclass"""
        )
        return sorted(cur.fetchall())


LIKED_BY = "EXISTS (SELECT 1 FROM likes l JOIN people p USING (person_id) WHERE l.track_id = {0}.track_id AND {1})"
OF_THEM = "p.name = ANY(%s)"


def snapshot(conn, names) -> dict:
    """Everything of these people: their likes, tokens, sync state, their songs' tracks, features and points."""
    queries = (
        "SELECT p.name, l.track_id, l.added_at, l.removed_at, l.source FROM likes l JOIN people p USING (person_id)",
        "SELECT p.name, t.token_info::text FROM spotify_tokens t JOIN people p USING (person_id)",
        "SELECT p.name, s.watermark_added_at FROM sync_state s JOIN people p USING (person_id)",
    )
    songs = (
        "SELECT t.track_id, t.name, t.isrc FROM tracks t WHERE " + LIKED_BY.format("t", OF_THEM),
        "SELECT f.track_id, f.source, f.energy FROM audio_features f WHERE " + LIKED_BY.format("f", OF_THEM),
        "SELECT m.map_id, m.track_id, m.x, m.y FROM map_points m WHERE " + LIKED_BY.format("m", OF_THEM),
        "SELECT person, track_id, rank FROM discoveries WHERE person = ANY(%s)",
    )
    with db.transaction(conn) as cur:
        found = {}
        for query in (*(q + " WHERE " + OF_THEM for q in queries), *songs):
            cur.execute(query, (list(names),))
            found[query] = sorted(cur.fetchall(), key=repr)
        return found


@pytest.mark.slow
def test_person_remove_leaves_no_row_of_them_and_the_others_intact(three_people, sample_library):
    settings, conn, emu = three_people.settings, three_people.conn, three_people.emulator
    from taskcode.authorize import authorize

    authorize(settings, conn, "carol", refresh_token=emu.refresh_token("carol"))
    sync.run(settings, conn)
    version = train.train(settings, conn).version
    assert promotion.evaluate_and_promote(settings, conn, version).promoted
    embed.embed(settings, conn)
    predict.store_discoveries(settings, conn)
    carol_id = person_id(conn, "carol")
    others = snapshot(conn, ["alice", "bob"])
    assert all(others.values()), "every kind of data should exist before the removal"
    assert all(snapshot(conn, ["carol"]).values())

    result = run_cli("person", "remove", "carol")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("removed carol: ") and "likes" in result.stdout
    assert f"model version(s) {version}" in result.stdout

    references = tables_referencing_people(conn)
    assert {table for table, _ in references} >= {"likes", "spotify_tokens", "sync_state"}
    with db.transaction(conn) as cur:
        for table, column in references:
            cur.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (carol_id,))
            assert cur.fetchone()[0] == 0, table
        cur.execute("SELECT count(*) FROM people WHERE name = 'carol' OR person_id = %s", (carol_id,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM discoveries WHERE person = 'carol'")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM map_points WHERE 'carol' = ANY(owners)")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM runs WHERE summary::text LIKE '%carol%'")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM model_versions WHERE test_set->'labels' ? 'carol'")
        assert cur.fetchone()[0] == 0
        only_carol = {like.track_id for like in sample_library.likes_of("carol")} - {
            like.track_id for like in sample_library.likes if like.person != "carol"
        }
        for table in ("tracks", "audio_features", "map_points"):
            cur.execute(f"SELECT count(*) FROM {table} WHERE track_id = ANY(%s)", (list(only_carol),))
            assert cur.fetchone()[0] == 0, table
    assert snapshot(conn, ["alice", "bob"]) == others

    assert run_cli("person", "remove", "carol").returncode == 1  # nobody of that name any more
    after = train.train(settings, conn)  # the next training runs without her
    assert after.version is not None
    with db.transaction(conn) as cur:
        cur.execute("SELECT people FROM model_versions WHERE version = %s", (after.version,))
        assert cur.fetchone()[0] == ["alice", "bob"]
    assert promotion.evaluate_and_promote(settings, conn, after.version).promoted

"""taskcode.queries: read-only, complete maps only, user input only as parameters."""

from __future__ import annotations

import psycopg2
import pytest

from taskcode import queries
from taskcode.errors import DatabaseError
from taskcode.localpg import free_port


def test_an_incomplete_map_is_invisible_to_every_question(filled_db):
    assert filled_db.incomplete_map_ids
    with queries.read_only(filled_db.url) as conn:
        maps = queries.newest_maps(conn)
        assert not set(maps["map_id"]) & set(filled_db.incomplete_map_ids)
        assert sorted(maps["model_version"]) == sorted([filled_db.champion, filled_db.other_version])
        for map_id in filled_db.incomplete_map_ids:
            assert queries.map_points(conn, map_id).empty
        # The crashed map is newer, yet predictions come from the complete one.
        answer = queries.prediction(conn, filled_db.known_track["track_id"], filled_db.champion)
        assert answer["map_id"] not in filled_db.incomplete_map_ids
        assert answer["probabilities"] == pytest.approx(filled_db.known_track["probabilities"])


def test_the_connection_refuses_writes(filled_db):
    with queries.read_only(filled_db.url) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute("DELETE FROM discoveries")
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute("CREATE TABLE sneaky (id int)")


def test_user_input_is_only_ever_a_parameter(filled_db):
    with queries.read_only(filled_db.url) as conn:
        assert queries.track(conn, "x' OR '1'='1") is None
        assert queries.prediction(conn, "'; DROP TABLE tracks; --", filled_db.champion) is None
        assert queries.track(conn, filled_db.known_track["track_id"])["name"] == filled_db.known_track["name"]


def test_an_empty_database_gives_empty_answers(empty_db):
    with queries.read_only(empty_db) as conn:
        assert queries.missing_tables(conn) == []
        assert queries.champion(conn) is None
        assert queries.newest_maps(conn).empty
        assert queries.model_versions(conn).empty
        assert queries.people(conn).empty
        assert queries.recent_runs(conn).empty
        assert queries.overview(conn)["tracks"] == 0


def test_an_unreachable_server_is_one_line_without_the_password():
    url = f"postgresql://someone:hunter2@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(DatabaseError) as caught:
        queries.connect(url)
    message = str(caught.value)
    assert message.startswith("cannot connect to PostgreSQL at 127.0.0.1:")
    assert "hunter2" not in message and "\n" not in message

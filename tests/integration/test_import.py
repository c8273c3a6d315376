"""`import`: liked songs from Spotify's account data export, for a person without a developer app."""

from __future__ import annotations

import json
import zipfile

import pytest

from emulator import generate
from taskcode import db, embed, promotion, sync, train
from tests.conftest import run_cli

PEOPLE = ("alice", "bob", "carol")


@pytest.fixture
def sample_library():
    """Three people: alice and bob sync through the emulator, carol imports her export."""
    return generate(people=3, tracks=120, seed=7)


def likes_of(conn, name, *, removed=False):
    with db.transaction(conn) as cur:
        cur.execute(
            """SELECT l.track_id, l.added_at, l.source FROM likes l JOIN people p USING (person_id)
                WHERE p.name = %s AND (l.removed_at IS NOT NULL) = %s""",
            (name, removed),
        )
        return {track_id: (added_at, source) for track_id, added_at, source in cur.fetchall()}


def table_counts(conn) -> dict[str, int]:
    with db.transaction(conn) as cur:
        counts = {}
        for table in ("people", "tracks", "likes", "sync_state", "spotify_tokens"):
            cur.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cur.fetchone()[0]
        return counts


@pytest.mark.slow
def test_an_imported_person_trains_and_maps_beside_synced_ones(three_people, sample_library, tmp_path):
    settings, conn = three_people.settings, three_people.conn
    written = run_cli(
        "sample-library",
        "--people",
        "3",
        "--tracks",
        "120",
        "-o",
        str(tmp_path / "lib.json"),
        "--export-dir",
        str(tmp_path / "exports"),
    )
    assert written.returncode == 0, written.stderr
    export = tmp_path / "exports" / "carol" / "YourLibrary.json"
    assert export.read_bytes() == three_people.exports["carol"].read_bytes()  # same library, same file

    result = run_cli("import", "--user", "carol", str(export))
    assert result.returncode == 0, result.stderr
    carol = {like.track_id for like in sample_library.likes_of("carol")}
    assert f"imported carol: {len(carol)} liked song(s) in the export, {len(carol)} new, 0 removed" in result.stdout
    assert set(likes_of(conn, "carol")) == carol
    assert {source for _, source in likes_of(conn, "carol").values()} == {"export"}

    summary = sync.run(settings, conn)  # alice and bob sync; the features stage serves carol's songs too
    assert [p.name for p in summary.people if p.waiting_for_authorization] == ["carol"]
    with db.transaction(conn) as cur:
        cur.execute("SELECT count(*) FROM audio_features WHERE track_id = ANY(%s)", (list(carol),))
        with_features = cur.fetchone()[0]
    assert with_features == sum(1 for t in carol if sample_library.tracks[t]["known_by"])
    version = train.train(settings, conn).version
    assert promotion.evaluate_and_promote(settings, conn, version).promoted
    embed.embed(settings, conn)
    with db.transaction(conn) as cur:
        cur.execute("SELECT people FROM model_versions WHERE version = %s", (version,))
        assert cur.fetchone()[0] == list(PEOPLE)
        cur.execute(
            """SELECT o, count(*) FROM map_points p JOIN maps m USING (map_id), unnest(p.owners) o
                WHERE m.complete AND m.model_version = %s GROUP BY o""",
            (version,),
        )
        on_map = dict(cur.fetchall())
    assert set(on_map) == set(PEOPLE) and on_map["carol"] >= 0.9 * len(carol)


def test_a_smaller_export_marks_the_missing_likes_removed_and_a_newer_one_adds(three_people, tmp_path):
    conn, export = three_people.conn, three_people.exports["carol"]
    run_cli("import", "--user", "carol", str(export)).check_returncode()
    first = likes_of(conn, "carol")
    data = json.loads(export.read_text())
    gone = [entry["uri"].rsplit(":", 1)[1] for entry in data["tracks"][:5]]
    smaller = tmp_path / "smaller.json"
    smaller.write_text(json.dumps({**data, "tracks": data["tracks"][5:]}))

    result = run_cli("import", "--user", "carol", str(smaller))
    assert result.returncode == 0, result.stderr
    assert "0 new, 5 removed" in result.stdout
    assert set(likes_of(conn, "carol", removed=True)) == set(gone)
    kept = likes_of(conn, "carol")
    assert kept == {t: first[t] for t in kept}  # the likes still there keep the date of their first import

    again = run_cli("import", "--user", "carol", str(export))  # liked again: back, dated at this import
    assert again.returncode == 0 and "5 new, 0 removed" in again.stdout
    assert set(likes_of(conn, "carol")) == set(first) and likes_of(conn, "carol", removed=True) == {}


def test_the_export_zip_is_read_as_the_json(three_people, tmp_path):
    export = three_people.exports["carol"]
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("Spotify Account Data/Userdata.json", "{}")
        z.write(export, "Spotify Account Data/YourLibrary.json")
    result = run_cli("import", "--user", "carol", str(archive))
    assert result.returncode == 0, result.stderr
    assert len(likes_of(three_people.conn, "carol")) == len(json.loads(export.read_text())["tracks"])


def _zip_without_it(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("Spotify Account Data/StreamingHistory_music_0.json", "[]")


BAD_FILES = {
    "not JSON": lambda p: p.write_text("artist,album,track\nA,B,C\n"),
    "not text": lambda p: p.write_bytes(b"\xff\xfe\x00\x81" * 10),
    "a list": lambda p: p.write_text('[{"uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC"}]'),
    "no tracks list": lambda p: p.write_text('{"albums": [], "shows": []}'),
    "tracks not a list": lambda p: p.write_text('{"tracks": {"uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC"}}'),
    "no tracks": lambda p: p.write_text('{"tracks": [], "albums": []}'),
    "entries without uri": lambda p: p.write_text('{"tracks": [{"artist": "A", "track": "B"}]}'),
    "only local files": lambda p: p.write_text('{"tracks": [{"uri": "spotify:local:A:B:C:201", "track": "C"}]}'),
    "a zip without it": _zip_without_it,
    "missing": lambda p: None,
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_file_that_is_no_export_is_refused_in_one_line_and_changes_nothing(three_people, tmp_path, kind):
    conn = three_people.conn
    run_cli("import", "--user", "carol", str(three_people.exports["carol"])).check_returncode()
    before = table_counts(conn), likes_of(conn, "carol")
    path = tmp_path / "bad.json"
    BAD_FILES[kind](path)
    for name in ("carol", "dave"):  # an existing person's likes stay, and nobody new is registered
        result = run_cli("import", "--user", name, str(path))
        assert result.returncode == 6, (kind, result.stdout, result.stderr)
        assert result.stderr.startswith("error: import: ") and result.stderr.count("\n") == 1, result.stderr
        assert (table_counts(conn), likes_of(conn, "carol")) == before


def test_a_person_whose_songs_come_from_an_export_is_not_warned_about_every_night(three_people, caplog):
    """Importing is a choice (no developer app, or beyond five people): the nightly sync says so
    calmly and still gives the command that would make it sync; a person who never imported is warned."""
    settings, conn = three_people.settings, three_people.conn
    run_cli("import", "--user", "carol", str(three_people.exports["carol"])).check_returncode()
    with db.transaction(conn) as cur:
        cur.execute("DELETE FROM spotify_tokens WHERE person_id = (SELECT person_id FROM people WHERE name = 'bob')")
    with caplog.at_level("INFO", logger="taskcode.sync"):
        summary = sync.run(settings, conn, with_features=False)
    carol = next(p for p in summary.people if p.name == "carol")
    assert carol.waiting_for_authorization and carol.imported
    report = sync.format_summary(summary)
    command = "python -m taskcode authorize --user carol"
    assert f"carol: liked songs from an export, not synced (to sync nightly: {command})" in report
    assert "bob: not authorized yet (python -m taskcode authorize --user bob)" in report
    levels = {r.getMessage().split(":")[0]: r.levelname for r in caplog.records if "authorize --user" in r.getMessage()}
    assert levels == {"carol": "INFO", "bob": "WARNING"}

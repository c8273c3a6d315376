"""For each other: household picks beside catalog songs, stored per model version, from the DAG's step and the CLI."""

import json

import pytest

from taskcode import db, registry
from taskcode.cli import main
from taskcode.predict import predict, store_discoveries
from tests.integration import test_model
from tests.integration.test_model import QUICK, _settings

champion_db = test_model.champion_db  # the same champion and catalog as the model's tests

pytestmark = pytest.mark.slow


def _stored(conn, source):
    with db.transaction(conn) as cur:
        cur.execute(
            """SELECT person, track_id, rank, probability, owners, model_version, probabilities
                 FROM discoveries WHERE source = %s ORDER BY person, rank""",
            (source,),
        )
        return cur.fetchall()


def test_household_picks_are_the_others_songs_ranked_by_the_champion(conn, champion_db):
    settings, lib = champion_db
    summary = store_discoveries(settings, conn, top=8)
    assert summary["household"] == {"alice": 8, "bob": 8} and summary["people"] == {"alice": 8, "bob": 8}
    store_discoveries(settings, conn, top=5)  # a second night replaces, never adds
    rows = _stored(conn, "household")
    version = registry.champion(conn).version
    for person, other in (("alice", "bob"), ("bob", "alice")):
        mine = [row for row in rows if row[0] == person]
        assert [row[2] for row in mine] == [1, 2, 3, 4, 5]
        assert {row[5] for row in mine} == {version}
        own = {like.track_id for like in lib.likes_of(person)}
        theirs = {like.track_id for like in lib.likes_of(other)} - own
        assert {row[1] for row in mine} <= theirs  # the others' songs, never the person's own
        assert all(row[4] == [other] for row in mine)
        answers = {p.track_id: p for p in predict(settings, conn, sorted(theirs)) if p.probabilities}
        best = sorted(answers.values(), key=lambda p: -p.probabilities[person])[:5]
        assert [row[3] for row in mine] == pytest.approx([p.probabilities[person] for p in best], abs=1e-3)
        assert mine[0][6] == pytest.approx(list(answers[mine[0][1]].probabilities.values()), abs=1e-3)
    assert len(_stored(conn, "catalog")) == 10


def test_without_a_catalog_the_household_still_gets_its_picks(conn, champion_db, write_config):
    settings, _ = champion_db
    no_catalog = _settings(write_config, QUICK)
    summary = store_discoveries(no_catalog, conn, top=3)
    assert summary["household"] == {"alice": 3, "bob": 3} and summary["people"] == {}
    assert summary["catalog"] == "skipped: no catalog file configured (paths.catalog_csv)"
    assert len(_stored(conn, "household")) == 6 and _stored(conn, "catalog") == []


def _cli(capsys, config, *args):
    code = main(["--config", str(config), "discover", *args])
    return code, capsys.readouterr()


def test_cli_discover_from_household_catalog_or_all_is_stored(conn, champion_db, write_config, capsys):
    settings, _ = champion_db
    config = write_config(QUICK + f"paths:\n  catalog_csv: {settings.paths.catalog_csv}\n")

    code, out = _cli(capsys, config, "--from", "household", "--user", "alice", "--top", "3")
    assert code == 0, out.err
    assert "household songs for alice:" in out.out and "catalog songs" not in out.out
    assert out.out.count("liked by bob") == 3
    assert len(_stored(conn, "household")) == 25 and _stored(conn, "catalog") == []  # stored, for alice only

    code, out = _cli(capsys, config, "--from", "catalog", "--json")
    assert code == 0, out.err
    found = json.loads(out.out)
    assert list(found) == ["catalog"] and [len(songs) for songs in found["catalog"].values()] == [10, 10]
    assert {row[1] for row in _stored(conn, "catalog") if row[0] == "bob"} >= {
        song["track_id"] for song in found["catalog"]["bob"]
    }

    no_catalog = write_config(QUICK)
    code, out = _cli(capsys, no_catalog, "--top", "2")  # --from all: the catalog contributes nothing
    assert code == 0, out.err
    assert "household songs for alice:" in out.out and "household songs for bob:" in out.out
    assert out.out.strip().splitlines()[-1] == "catalog: skipped: no catalog file configured (paths.catalog_csv)"

    code, out = _cli(capsys, no_catalog, "--from", "catalog")
    assert code != 0 and "set paths.catalog_csv" in out.err
    code, out = _cli(capsys, no_catalog, "--user", "mallory")
    assert code != 0 and "not one of the champion's people" in out.err

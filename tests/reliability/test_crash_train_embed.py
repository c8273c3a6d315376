"""SIGKILL `train` and `embed` at each of their stages: never a half-promoted model, never half a map.

`train` is killed while it fits and inside the promotion (the transaction
that retires the old champion and crowns the new one, while it writes the
decision); after every kill the registry has at most one champion, the one
the dashboard serves, and the champion's artifact loads and predicts; the
next run ends with the new champion. `embed` is killed during t-SNE and
while a map's points are written, with the dashboard's own queries reading
in a loop meanwhile: they only ever see complete maps with one point per song.
"""

from __future__ import annotations

import numpy as np
import psycopg2
import pytest

from emulator import generate
from emulator.database import load_into_database, track_row
from taskcode import db, embed, promotion, registry, store, train
from taskcode.config import load_settings
from taskcode.items import SavedTrack, parse_timestamp
from tests.conftest import run_cli
from tests.reliability.conftest import (
    CONFIG,
    TRAINED,
    Command,
    DashboardReader,
    assert_registry_sane,
    fast_writes,
    rows,
    slow_writes,
    wait_for_backends_gone,
    wait_for_write,
)

pytestmark = pytest.mark.slow

LIBRARY = dict(people=2, tracks=150, seed=3)
WEAK = CONFIG.replace("hidden_layers: [8, 4]", "hidden_layers: [1]").replace("epochs: 8", "epochs: 1")


def _build(url: str, config_path, *, mapped: bool) -> None:
    settings = load_settings(config_path, env={"DATABASE_URL": url})
    with db.connection(settings) as conn:
        db.migrate(conn)
        load_into_database(conn, generate(**LIBRARY))
        version = train.train(settings, conn).version
        if not promotion.evaluate_and_promote(settings, conn, version).promoted:
            with db.transaction(conn) as cur:  # the story needs an old champion, however weak
                registry.move_champion(cur, version, None)
        if mapped:
            embed.embed(settings, conn)


@pytest.fixture
def old_champion(template_database, tmp_path):
    """The library synced, and a weak champion (1 hidden unit, 1 epoch) that tonight's model should beat."""
    weak = tmp_path / "weak.yml"
    weak.write_text(WEAK)
    return template_database("reliability_weak_champion", lambda url: _build(url, weak, mapped=False))


@pytest.fixture
def mapped(template_database, config):
    """The library synced, a champion of the test config and its first map."""
    return template_database("reliability_mapped", lambda url: _build(url, config, mapped=True))


def _kill_inside_a_write(
    url: str, table: str, folder, env: dict, *args: str, event: str = "INSERT", occurrence: int = 1
) -> None:
    """Run the command `args` and kill it while its `occurrence`-th statement writing `table` is in
    progress (a trigger, set first, makes each sleep there); wait until its session is gone, drop the trigger."""
    slow_writes(url, table, 0.5, event=event)
    command = Command(folder, *args, env=env)
    wait_for_write(url, table, command, occurrence, event)
    command.kill()
    wait_for_backends_gone(url)
    fast_writes(url, table, event=event)


def test_train_killed_while_fitting_and_promoting_never_half_promotes(old_champion, tmp_path):
    url = old_champion
    config = tmp_path / "trained.yml"
    config.write_text(TRAINED)  # tonight's model beats WEAK by evidence, not by luck
    env = {"DATABASE_URL": url, "TASKCODE_CONFIG": str(config)}
    before = assert_registry_sane(url)
    [old] = before["champions"]

    fitting = Command(tmp_path, "train", env=env)
    fitting.wait_for_output("training on")
    fitting.kill()
    wait_for_backends_gone(url)
    assert assert_registry_sane(url) == before

    # Inside the promotion: the old champion is retired (first UPDATE) and the new one crowned
    # (second), uncommitted, while the decision is written (third).
    _kill_inside_a_write(url, "model_versions", tmp_path, env, "train", event="UPDATE", occurrence=3)
    killed = assert_registry_sane(url)
    assert killed["champions"] == [old]
    [left] = [v for v, status in killed["statuses"].items() if status == "candidate"]  # trained, never judged

    rerun = run_cli("train", env=env)
    assert rerun.returncode == 0, rerun.stderr
    after = assert_registry_sane(url)
    [new] = after["champions"]
    assert new != old and after["statuses"][old] == "retired" and after["replaces"][new] == old
    assert after["fingerprints"][new] == killed["fingerprints"][left]  # tonight's data, not an old model
    assert "candidate" not in after["statuses"].values(), after  # every trained version was judged


def _like_new_songs(url: str, library, count: int) -> None:
    """New likes with features since the map was drawn, as tonight's sync would store them."""
    rng = np.random.default_rng(11)
    conn = psycopg2.connect(url)
    try:
        with db.transaction(conn) as cur:
            for name in ("alice", "bob"):
                tracks = [library.new_track(name, rng) for _ in range(count)]
                [person] = store.get_people(cur, [name])
                store.upsert_tracks(cur, [track_row(t) for t in tracks])
                store.upsert_likes(
                    cur,
                    person.person_id,
                    [SavedTrack(track_row(t), parse_timestamp("2026-11-24T20:00:00Z")) for t in tracks],
                )
                store.upsert_features(
                    cur, [{"track_id": t["id"], "source": "spotify", **t["features"]} for t in tracks]
                )
    finally:
        conn.close()


def test_embed_killed_while_mapping_and_writing_never_shows_half_a_map(mapped, config, tmp_path):
    url = mapped
    env = {"DATABASE_URL": url, "TASKCODE_CONFIG": str(config)}
    [(first_map, first_points)] = rows(
        url,
        """SELECT m.map_id, count(*) FROM maps m JOIN map_points p USING (map_id)
                                                WHERE m.complete GROUP BY m.map_id""",
    )
    _like_new_songs(url, generate(**LIBRARY), 10)
    [(songs,)] = rows(url, "SELECT count(*) FROM audio_features")
    assert songs == first_points + 20

    with DashboardReader(url) as reader:
        mapping = Command(tmp_path, "embed", "--fresh", env=env)
        mapping.wait_for_output("map: t-SNE")  # logged every 100 iterations
        mapping.kill()
        wait_for_backends_gone(url)

        _kill_inside_a_write(url, "map_points", tmp_path, env, "embed")
        assert rows(url, "SELECT map_id, complete FROM maps") == [(first_map, True)]

        rerun = run_cli("embed", env=env)
        assert rerun.returncode == 0, rerun.stderr
        [(new_map,)] = rows(url, "SELECT max(map_id) FROM maps WHERE complete")
        reader.look_again()  # at the finished state too

    assert new_map != first_map
    assert rows(url, "SELECT count(*) FROM map_points WHERE map_id = %s", (new_map,)) == [(songs,)]
    assert not reader.duplicates
    sizes = reader.map_sizes()
    assert sizes[first_map] <= {first_points, None}  # None: replaced between two questions
    assert sizes[new_map] <= {songs, None} and songs in sizes[new_map]
    assert set(sizes) <= {first_map, new_map}
    assert rows(url, "SELECT count(*) FROM maps WHERE NOT complete") == [(0,)]

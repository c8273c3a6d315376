"""Every page of the dashboard under Streamlit's AppTest, against real PostgreSQL.

AppTest runs the app's scripts in this process, so the pages read the
database of the test through DATABASE_URL, exactly as `streamlit run` would.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from taskcode import queries
from taskcode.localpg import free_port
from tests.dashboard.conftest import APP

ROOT = APP.parents[1]

PAGES = ["page_map.py", "page_model.py", "page_data.py", "page_predict.py", "page_discover.py"]


# -- helpers ---------------------------------------------------------------------------


def no_exception(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at) -> str:
    """Everything a person reads on the page, as one string."""
    parts = [
        e.value
        for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "success", "error")
        for e in getattr(at, kind)
    ]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def charts(at) -> list[dict]:
    return [json.loads(element.proto.spec) for element in at.get("plotly_chart")]


def numbers(value) -> np.ndarray:
    """A Plotly data array, whether sent as a list or as packed binary ("bdata")."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def champion_points(filled_db):
    """The points of the champion's newest complete map, read with the dashboard's own query."""
    with queries.read_only(filled_db.url) as conn:
        maps = queries.newest_maps(conn)
        newest = maps[maps["model_version"] == filled_db.champion].iloc[0]
        return queries.map_points(conn, int(newest["map_id"]))


def map_spec(at) -> dict:
    return charts(at)[0]


def song_traces(spec: dict) -> list[dict]:
    """The traces of songs (one per owner group), without the star of a found song."""
    return [t for t in spec["data"] if "customdata" in t and t.get("name") != "found"]


# -- the map ----------------------------------------------------------------------------


def test_map_shows_the_champions_complete_map(filled_db, app):
    at = no_exception(app())
    assert at.selectbox(key="map_version").value == filled_db.champion
    assert metric(at, "Songs on the map") == f"{filled_db.champion_map_points:,}"
    spec = map_spec(at)
    assert all(t["type"] == "scatter" for t in spec["data"])  # a household's map: SVG (test_mapfigure: WebGL when big)
    assert sum(len(numbers(t["x"])) for t in song_traces(spec)) == filled_db.champion_map_points
    # The newer, incomplete map (points at x >= 1000) is never shown.
    assert filled_db.incomplete_map_ids
    assert max(numbers(t["x"]).max() for t in spec["data"]) < 1000
    # Hover: name (text), artists (hovertext) and one probability per person (customdata,
    # packed bytes) through one template per trace.
    trace = song_traces(spec)[0]
    assert len(trace["text"]) == len(trace["hovertext"]) == len(numbers(trace["x"]))
    assert len(numbers(trace["customdata"])) == len(numbers(trace["x"])) * len(filled_db.people)
    assert all(p in trace["hovertemplate"] for p in filled_db.people)
    assert "%{text}" in trace["hovertemplate"] and "%{hovertext}" in trace["hovertemplate"]
    assert any(t["name"].startswith("shared") for t in spec["data"])
    # Out-of-place songs: bigger dots of their own (traces of size 8).
    misplaced = int(champion_points(filled_db)["out_of_place"].sum())
    bigger = sum(len(numbers(t["x"])) for t in song_traces(spec) if t["marker"]["size"] == 8)
    assert bigger == misplaced > 0


def test_map_lists_out_of_place_songs_most_confident_first(filled_db, app):
    at = no_exception(app())
    points = champion_points(filled_db)
    expected = points[points["out_of_place"]]
    table = at.dataframe[-1].value
    assert len(table) == len(expected) > 0
    assert list(table["confidence"]) == sorted(table["confidence"], reverse=True)
    assert metric(at, "Out of place") == f"{len(expected):,}"


def test_map_search_highlights_and_centres_the_song(filled_db, app):
    known = filled_db.known_track
    at = app()
    at.text_input(key="map_search").input(known["name"].upper()).run()
    no_exception(at)
    assert at.selectbox(key="map_found").value == known["track_id"]
    spec = map_spec(at)
    star = next(t for t in spec["data"] if t["name"] == "found")
    assert numbers(star["x"])[0] == pytest.approx(known["x"], rel=1e-5)
    x_range, y_range = spec["layout"]["xaxis"]["range"], spec["layout"]["yaxis"]["range"]
    assert sum(x_range) / 2 == pytest.approx(known["x"], rel=1e-5, abs=1e-6)
    assert sum(y_range) / 2 == pytest.approx(known["y"], rel=1e-5, abs=1e-6)

    # An artist search offers that artist's songs.
    artist = known["artists"].split(", ")[0]
    at.text_input(key="map_search").input(artist).run()
    labels = at.selectbox(key="map_found").options  # as shown: "name — artists"
    assert labels and all(artist.lower() in label.lower() for label in labels)


def test_map_search_without_match_says_so(filled_db, app):
    at = app()
    at.text_input(key="map_search").input("no such song, surely").run()
    no_exception(at)
    assert "No song or artist on this map matches" in texts(at)
    assert not any(t["name"] == "found" for t in map_spec(at)["data"])


def test_map_filter_by_person(filled_db, app):
    first, second = filled_db.people[:2]
    points = champion_points(filled_db)
    expected = int(points["owners"].map(lambda owners: first in owners).sum())
    at = app()
    at.multiselect(key="map_people").set_value([first]).run()
    no_exception(at)
    assert metric(at, "Shown") == f"{expected:,}"
    assert metric(at, "Songs on the map") == f"{filled_db.champion_map_points:,}"
    names = [t["name"] for t in song_traces(map_spec(at))]
    assert any(n.startswith(first) for n in names) and not any(n.startswith(second) for n in names)
    assert sum(len(numbers(t["x"])) for t in song_traces(map_spec(at))) == expected

    # A song of the hidden person that the search finds is still drawn and starred.
    hidden = points[points["owners"].map(lambda owners: owners == [second])].iloc[0]
    at.text_input(key="map_search").input(hidden["name"]).run()
    no_exception(at)
    assert at.selectbox(key="map_found").value == hidden["track_id"]
    assert any(t["name"] == "found" for t in map_spec(at)["data"])
    assert metric(at, "Shown") == f"{expected:,}"


def test_the_filter_updates_every_count_and_the_out_of_place_table(filled_db, app):
    first = filled_db.people[0]
    points = champion_points(filled_db)
    mine = points[points["owners"].map(lambda owners: first in owners)]
    at = app()
    at.multiselect(key="map_people").set_value([first]).run()
    no_exception(at)
    misplaced = int(mine["out_of_place"].sum())
    assert misplaced != int(points["out_of_place"].sum())
    assert metric(at, "Out of place") == f"{misplaced:,}"
    assert metric(at, "Shared") == f"{int((mine['owners'].map(len) > 1).sum()):,}"
    table = at.dataframe[-1].value
    assert len(table) == misplaced and all(first in liked for liked in table["liked by"])


def test_nobody_chosen_says_what_to_do_instead_of_a_blank_chart(filled_db, app):
    at = app()
    at.multiselect(key="map_people").set_value([]).run()
    no_exception(at)
    assert "choose one or more people" in texts(at)
    assert not charts(at)
    assert metric(at, "Shown") == "0"


def test_a_found_song_lists_its_five_nearest_songs_and_their_owners(filled_db, app):
    known = filled_db.known_track
    with queries.read_only(filled_db.url) as conn:
        maps = queries.newest_maps(conn)
        map_id = int(maps[maps["model_version"] == filled_db.champion].iloc[0]["map_id"])
        expected = queries.neighbours(conn, map_id, known["track_id"])
    assert len(expected) == 5 and known["track_id"] not in set(expected["neighbour_id"])
    at = app()
    at.text_input(key="map_search").input(known["name"]).run()
    no_exception(at)
    why = next(t.value for t in at.table if "nearest songs" in t.value.columns).reset_index()
    assert list(why["nearest songs"]) == list(expected["name"].fillna("—"))
    assert list(why["liked by"]) == [", ".join(o) or "—" for o in expected["owners"]]
    assert set(why["song"]) == {known["name"]}


def test_no_table_shows_none(filled_db, app):
    at = app()
    at.text_input(key="map_search").input(filled_db.known_track["name"]).run()
    for page in [at, app("page_model.py"), app("page_data.py")]:
        no_exception(page)
        for frame in [d.value for d in page.dataframe] + [t.value for t in page.table]:
            text = frame.select_dtypes(include=["object", "string"])
            assert not text.isna().any().any() and not (text.astype(str) == "None").any().any(), frame


def test_map_can_show_another_model_version(filled_db, app):
    at = app()
    at.selectbox(key="map_version").select(filled_db.other_version).run()
    no_exception(at)
    assert metric(at, "Songs on the map") == f"{filled_db.other_map_points:,}"
    assert filled_db.other_map_points != filled_db.champion_map_points
    assert sum(len(numbers(t["x"])) for t in song_traces(map_spec(at))) == filled_db.other_map_points


# -- the other pages --------------------------------------------------------------------


def test_model_page(filled_db, app):
    at = no_exception(app("page_model.py"))
    assert metric(at, "Champion") == f"version {filled_db.champion}"
    versions = at.dataframe[0].value
    assert sorted(versions["version"]) == sorted([filled_db.champion, filled_db.other_version])
    assert set(versions["status"]) == {"champion", "retired"}
    specs = charts(at)
    f1_chart = next(s for s in specs if "F1 over versions" in s["layout"]["title"]["text"])
    assert any(t["name"] == "promoted" for t in f1_chart["data"])
    heatmap = next(t for s in specs for t in s["data"] if t["type"] == "heatmap")
    assert heatmap["x"] == filled_db.people
    assert any("ROC curve" in s["layout"]["title"]["text"] for s in specs)
    comparison = at.dataframe[-1].value
    assert {"logistic regression", "sklearn mlp"} <= set(comparison["model"])
    assert "Is the neural network worth it?" in texts(at)
    # Always guessing one person: its accuracy is that person's share of the test songs.
    with queries.read_only(filled_db.url) as conn:
        metrics = queries.model_version(conn, filled_db.champion)["metrics"]
    per_person = np.asarray(metrics["confusion"]["matrix"]).sum(axis=1)
    guessed = [
        n for n in per_person if abs(2 * n / (n + per_person.sum()) / len(per_person) - metrics["majority_f1"]) < 1e-3
    ]
    majority = comparison.set_index("model").loc["always guess the biggest library"]
    assert guessed and majority["accuracy"] == pytest.approx(guessed[0] / per_person.sum(), abs=1e-3)

    at.selectbox(key="model_version").select(filled_db.other_version).run()
    no_exception(at)
    assert f"neural network (version {filled_db.other_version})" in set(at.dataframe[-1].value["model"])


def test_data_page(filled_db, app):
    at = no_exception(app("page_data.py"))
    people = at.dataframe[0].value
    assert sorted(people["person"]) == sorted(filled_db.people)
    assert people["removed"].sum() == 2
    assert metric(at, "People") == "2"
    coverage = charts(at)[0]
    assert {t["name"] for t in coverage["data"]} >= {"spotify"}
    runs = at.dataframe[-1].value
    assert {"sync", "train", "embed"} <= set(runs["kind"])
    assert "failed" in set(runs["status"])
    assert at.json  # the full summary of the newest run


def test_data_page_warns_before_a_spotify_authorization_expires(filled_db, app):
    import psycopg2

    first, second = sorted(filled_db.people)
    writer = psycopg2.connect(filled_db.url)
    with writer, writer.cursor() as cur:
        cur.execute(
            "UPDATE people SET authorized_at = now() - interval '175 days' WHERE name = %s RETURNING person_id",
            (first,),
        )
        cur.execute("INSERT INTO spotify_tokens (person_id, token_info) VALUES (%s, '{}')", cur.fetchone())
    writer.close()
    at = no_exception(app("page_data.py"))
    warnings = [w.value for w in at.warning]
    assert any(
        f"{first}'s Spotify authorization expires on" in w and f"python -m taskcode authorize --user {first}" in w
        for w in warnings
    ), warnings
    assert f"{second} has not authorized Spotify yet; run: python -m taskcode authorize --user {second}" in warnings
    people = at.dataframe[0].value.set_index("person")
    assert people.loc[first, "needs_authorize"] == False and people.loc[second, "needs_authorize"] == True  # noqa: E712


def test_predict_page_with_a_known_song(filled_db, app):
    known = filled_db.known_track
    at = app("page_predict.py")
    at.text_input(key="predict_ref").input(f"https://open.spotify.com/track/{known['track_id']}?si=abc").run()
    no_exception(at)
    winner = max(known["probabilities"], key=known["probabilities"].get)
    assert f"**{winner}'s song**" in texts(at)
    for person, chance in known["probabilities"].items():
        assert metric(at, person) == f"{chance:.0%}"
    assert known["name"] in texts(at)


def champion_map_id(conn, version: int) -> int:
    maps = queries.newest_maps(conn)
    return int(maps[maps["model_version"] == version].iloc[0]["map_id"])


def test_predict_page_shows_why_a_song_on_the_map_is_answered_so(filled_db, app):
    known = filled_db.known_track
    with queries.read_only(filled_db.url) as conn:
        nearest = queries.neighbours(conn, champion_map_id(conn, filled_db.champion), known["track_id"])
    at = app("page_predict.py")
    at.text_input(key="predict_ref").input(known["track_id"]).run()
    no_exception(at)
    assert "Why" in [s.value for s in at.subheader]
    why = at.table[0].value
    assert len(nearest) == 5
    assert list(why["nearest songs"]) == list(nearest["name"])
    assert list(why["liked by"]) == [", ".join(owners) or "—" for owners in nearest["owners"]]


def test_predict_page_answers_a_household_pick(filled_db, app):
    with queries.read_only(filled_db.url) as conn:
        found = queries.discoveries(conn, filled_db.champion)
    pick = found[found["source"] == "household"].iloc[0]
    at = app("page_predict.py")
    at.text_input(key="predict_ref").input(pick["track_id"]).run()
    no_exception(at)
    assert "Unknown song" not in texts(at) and "'s song**" in texts(at)
    assert f"Liked by {', '.join(pick['owners'])}" in texts(at)
    assert sorted(m.label for m in at.metric) == sorted(filled_db.people)


@pytest.mark.slow
def test_the_command_the_predict_page_gives_answers_a_song_not_on_the_map(filled_db, app):
    import psycopg2

    from tests.conftest import run_cli

    song = filled_db.known_track["track_id"]
    with psycopg2.connect(filled_db.url) as writer, writer.cursor() as cur:  # as if it came after the map
        cur.execute("DELETE FROM map_points WHERE track_id = %s", (song,))
    writer.close()
    at = app("page_predict.py")
    at.text_input(key="predict_ref").input(song).run()
    no_exception(at)
    assert "not on the champion's map yet" in texts(at)
    command = next(i.value for i in at.info if "python -m taskcode predict" in i.value).split("`")[1]
    assert command == f"python -m taskcode predict {song}"
    env = {"DATABASE_URL": filled_db.url, "TASKCODE_CONFIG": str(filled_db.config_path)}
    answered = run_cli(*command.split()[3:], "--json", env=env)
    assert answered.returncode == 0, answered.stderr
    answer = json.loads(answered.stdout)[0]
    assert answer["track_id"] == song and set(answer["probabilities"]) == set(filled_db.people)


def test_predict_page_with_an_unknown_song(filled_db, app):
    at = app("page_predict.py")
    at.text_input(key="predict_ref").input(f"spotify:track:{filled_db.unknown_track_id}").run()
    no_exception(at)
    message = texts(at)
    assert "Unknown song" in message and "sync" in message and "like it" in message
    assert not at.metric


def test_predict_page_with_a_known_song_that_is_not_on_the_map(filled_db, app):
    with queries.read_only(filled_db.url) as conn, conn.cursor() as cur:
        cur.execute(
            """SELECT t.track_id FROM tracks t
                WHERE NOT EXISTS (SELECT 1 FROM audio_features f WHERE f.track_id = t.track_id)
                ORDER BY t.track_id LIMIT 1"""
        )
        track_id = cur.fetchone()[0]
    at = app("page_predict.py")
    at.text_input(key="predict_ref").input(track_id).run()
    no_exception(at)
    assert "not on the champion's map" in texts(at) and "no audio features" in texts(at)
    assert not at.metric


def test_predict_page_with_something_that_is_not_a_track(filled_db, app):
    at = app("page_predict.py")
    at.text_input(key="predict_ref").input("https://open.spotify.com/album/xyz").run()
    no_exception(at)
    assert "not a Spotify track" in texts(at)


def test_discover_page(filled_db, app):
    at = no_exception(app("page_discover.py"))
    assert [tab.label for tab in at.tabs] == filled_db.people
    tables = [df.value for df in at.dataframe]
    assert sum(len(t) for t in tables) == filled_db.discoveries > 0
    first = tables[0]
    assert list(first["rank"]) == sorted(first["rank"])
    assert all(link.startswith("https://open.spotify.com/track/") for t in tables for link in t["spotify"])


def test_discover_page_shows_household_picks_from_the_others_library(filled_db, app):
    at = no_exception(app("page_discover.py"))
    household = [df.value for df in at.dataframe if "library" in df.value.columns]
    assert len(household) == len(filled_db.people) == 2
    first, second = filled_db.people
    assert set(household[0]["library"]) == {f"from {second}'s library"}
    assert set(household[1]["library"]) == {f"from {first}'s library"}
    assert list(household[0]["probability"]) == sorted(household[0]["probability"], reverse=True)
    assert "From each other's libraries" in texts(at) and "From the catalog" in texts(at)


def test_predict_page_answers_a_discovered_catalog_song(filled_db, app):
    with queries.read_only(filled_db.url) as conn:
        found = queries.discoveries(conn, filled_db.champion)
        song = found[found["source"] == "catalog"].iloc[0]
        assert queries.track(conn, song["track_id"]) is None  # on no map: only Discover knows it
    at = app("page_predict.py")
    at.text_input(key="predict_ref").input(song["track_id"]).run()
    no_exception(at)
    assert "Unknown song" not in texts(at) and "'s song**" in texts(at)
    assert song["name"] in texts(at) and "catalog discoveries" in texts(at)
    assert sorted(m.label for m in at.metric) == sorted(filled_db.people)


def test_predict_page_gives_the_command_that_can_answer_an_unknown_song(filled_db, app):
    at = app("page_predict.py")
    at.text_input(key="predict_ref").input(filled_db.unknown_track_id).run()
    no_exception(at)
    assert f"python -m taskcode predict {filled_db.unknown_track_id}" in texts(at)


# -- empty and broken databases ----------------------------------------------------------

EMPTY_STATES = {
    "page_map.py": "No map yet",
    "page_model.py": "No model yet",
    "page_data.py": "No data yet",
    "page_predict.py": "No model yet",
    "page_discover.py": "No model yet",
}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_explains_an_empty_database(empty_db, app, page):
    at = no_exception(app(page))
    assert not at.error
    assert EMPTY_STATES[page] in texts(at)
    assert "make demo" in texts(at)


def test_discover_page_without_discoveries_says_how_to_get_them(filled_db, app):
    import psycopg2

    writer = psycopg2.connect(filled_db.url)
    with writer, writer.cursor() as cur:
        cur.execute("DELETE FROM discoveries")
    writer.close()
    at = no_exception(app("page_discover.py"))
    assert "paths.catalog_csv" in texts(at) and "run the pipeline" in texts(at)


def test_a_database_without_tables_says_to_migrate(settings, app):
    at = no_exception(app())
    assert "db migrate" in texts(at)
    assert not at.error


def test_an_unreachable_database_is_one_error_line(settings, app, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nothing")
    for page in (None, "page_model.py"):
        at = no_exception(app(page))
        assert len(at.error) == 1
        message = at.error[0].value
        assert "cannot connect to PostgreSQL at 127.0.0.1" in message
        assert "\n" not in message and "secret" not in message
        assert not at.get("plotly_chart")


def test_the_dashboard_never_loads_tensorflow_or_training_code(filled_db):
    # In a fresh interpreter: other tests of this session may have imported TensorFlow.
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(APP)!r}, default_timeout=60).run()
for page in {PAGES[1:]!r}:
    at.switch_page(page).run()
    assert not at.exception, page
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "sklearn", "openTSNE"))
print(",".join(heavy) or "none")
"""
    env = {
        **os.environ,
        "DATABASE_URL": filled_db.url,
        "TASKCODE_CONFIG": str(filled_db.config_path),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "none"

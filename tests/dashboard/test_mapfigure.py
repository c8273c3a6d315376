"""The map figure on its own: traces per owner group, rows for selections, a lean payload."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.io as pio

from tests.dashboard.conftest import dashboard_module

mapfigure = dashboard_module("mapfigure")

PEOPLE = ["alice", "bob", "carol"]
COLOURS = {"alice": "#1f77b4", "bob": "#ff7f0e", "carol": "#2ca02c", "dave": "#d62728"}


def points(owners: list[list[str]]) -> pd.DataFrame:
    n = len(owners)
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(len(PEOPLE)), n)
    predicted = [PEOPLE[i] for i in probabilities.argmax(axis=1)]
    return pd.DataFrame(
        {
            "track_id": [f"{i:022d}" for i in range(n)],
            "name": [f"Song {i} " + "ä" * (i % 3) for i in range(n)],
            "artists": [f"Artist {i % 7}, Artist {i % 5}" for i in range(n)],
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "probabilities": probabilities.tolist(),
            "owners": owners,
            "predicted": predicted,
            "out_of_place": [bool(o) and p not in o for p, o in zip(predicted, owners)],
            "confidence": probabilities.max(axis=1),
            "placed": "fit",
        }
    )


def test_a_trace_per_person_one_for_shared_songs_and_rows_that_find_every_song():
    owners = [["alice"], ["bob"], ["carol"], ["alice", "bob"], ["bob", "carol"], [], ["dave"]] * 5
    frame = points(owners)
    figure, rows = mapfigure.build(frame, PEOPLE, COLOURS)
    legend = [trace.name for trace in figure.data if trace.showlegend is not False]
    assert legend == ["alice (5)", "bob (5)", "carol (5)", "dave (5)", "shared (10)", "no current owner (5)"]
    # Out-of-place songs sit in a trace of their own, linked to their group's legend entry.
    assert all(trace.legendgroup == trace.name.rsplit(" (", 1)[0] for trace in figure.data)
    assert figure.data[[t.name for t in figure.data].index("dave (5)")].marker.color in (
        COLOURS["dave"],
        mapfigure.darker(COLOURS["dave"]),
    )  # joined after the model: own colour
    assert sorted(np.concatenate(rows).tolist()) == list(range(len(frame)))
    for trace, positions in zip(figure.data, rows):
        assert list(trace.text) == frame.loc[positions, "name"].tolist()
        assert list(trace.customdata[:, 0]) == [round(p[0] * 100) for p in frame.loc[positions, "probabilities"]]
        misplaced = frame.loc[positions, "out_of_place"]
        assert misplaced.nunique() == 1  # a trace holds in-place or out-of-place songs, never both
        assert trace.marker.size == (8 if misplaced.iloc[0] else 6)
        first_owners = ", ".join(sorted(frame.loc[positions[0], "owners"])) or "nobody"
        if trace.name.startswith("shared"):  # several owners: per song, in the hover text
            assert [h.split("<br>liked by: ")[1] for h in trace.hovertext] == [
                ", ".join(sorted(o)) for o in frame.loc[positions, "owners"]
            ]
        else:
            assert "liked by: " + first_owners in trace.hovertemplate


def test_a_found_song_gets_a_star_and_the_view_centres_on_it():
    frame = points([["alice"], ["bob"]] * 50)
    target = frame.iloc[17]
    figure, rows = mapfigure.build(frame, PEOPLE, COLOURS, found=target["track_id"])
    star = figure.data[-1]
    assert star.name == "found" and rows[-1].tolist() == [17]
    assert np.mean(figure.layout.xaxis.range) == np.float32(target["x"])
    assert np.mean(figure.layout.yaxis.range) == np.float32(target["y"])


def test_svg_for_a_households_map_webgl_for_a_big_one():
    small = points([["alice"], ["bob"]] * (mapfigure.WEBGL_FROM // 2 - 1))
    big = points([["alice"], ["bob"]] * (mapfigure.WEBGL_FROM // 2))
    assert {t.type for t in mapfigure.build(small, PEOPLE, COLOURS)[0].data} == {"scatter"}
    assert {t.type for t in mapfigure.build(big, PEOPLE, COLOURS)[0].data} == {"scattergl"}
    # A filtered view of a big map (and its found song) stays WebGL: the whole map decides.
    view, _ = mapfigure.build(big.head(10), PEOPLE, COLOURS, found=big["track_id"][0], extent=big)
    assert {t.type for t in view.data} == {"scattergl"}


def test_the_payload_stays_lean():
    frame = points([["alice"], ["bob"], ["alice", "bob"], ["carol"]] * 2500)
    figure, _ = mapfigure.build(frame, PEOPLE, COLOURS)
    spec = json.loads(pio.to_json(figure, validate=False))
    for trace in spec["data"]:
        assert set(trace["x"]) == {"dtype", "bdata"} and trace["x"]["dtype"] == "f4"  # packed float32
        assert trace["customdata"]["dtype"] == "u1"  # whole percents, packed, one byte each
        assert isinstance(trace["marker"]["size"], int)  # nothing per song but x, y, name, artists, percents
    per_song = len(pio.to_json(figure, validate=False)) / len(frame)
    assert per_song < 70, per_song  # short synthetic names; ~89 bytes with real-length ones
    assert len(spec["data"]) <= 2 * (len(PEOPLE) + 1)  # a few traces, not one per set of owners


def test_equal_axes_that_span_the_songs_with_a_small_margin():
    frame = points([["alice"]] * 50 + [["bob"]] * 50)
    frame["x"] *= 5  # a wide map: the frame follows its shape, no empty band above and below
    figure, _ = mapfigure.build(frame, PEOPLE, COLOURS)
    xaxis, yaxis = figure.layout.xaxis, figure.layout.yaxis
    assert yaxis.scaleanchor == "x" and yaxis.scaleratio == 1
    for axis, values in ((xaxis, frame["x"]), (yaxis, frame["y"])):
        low, high = axis.range
        span = values.max() - values.min()
        assert low < values.min() and high > values.max()
        assert (values.min() - low) <= 0.05 * span and (high - values.max()) <= 0.05 * span

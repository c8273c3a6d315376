"""The map as a Plotly scatter (WebGL from a few thousand songs), built lean enough for 100k songs.

The browser receives every byte of the figure, so:
- x, y and each person's probability (whole percent, a byte) go as packed
  binary arrays, and one `hovertemplate` per trace turns them into text in
  the browser, instead of one preformatted string (or list) per point;
- few traces: one per person for the songs only they like, one for every
  shared song (their owners go into the hover text), one for songs nobody
  likes any more;
- out-of-place songs (bigger, a darker shade of the owner's colour) sit in a
  trace of their own beside their group's, so no size is sent per song, and
  no marker has an outline, which software WebGL draws slowly.

bench/README.md has the measurements behind these choices. Kept free of
Streamlit so that tests and the benchmark can build it directly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go

SHARED_COLOUR = "#9e9e9e"
NOBODY_COLOUR = "#d9d9d9"
FOUND_COLOUR = "#ffd700"
OUT_OF_PLACE_SHADE = 0.45  # out-of-place songs: the owner's colour, this much darker
MAX_TEXT = 60  # characters of a name or artist list shown on hover
RANGE_MARGIN = 0.03  # of the songs' extent, on each side of the map
TYPICAL_WIDTH, MIN_HEIGHT, MAX_HEIGHT = 920, 240, 700  # pixels of the map's plot area on a wide page
WEBGL_FROM = 5000  # songs: below, SVG markers draw sooner than a software WebGL context starts


def scatter_type(songs: int) -> type:
    """go.Scatter (SVG) for a household's map, go.Scattergl (WebGL) for a big one."""
    return go.Scattergl if songs >= WEBGL_FROM else go.Scatter


def _short(texts: pd.Series) -> np.ndarray:
    """Names for the hover box: never empty, never longer than MAX_TEXT."""
    texts = texts.fillna("(no name)").astype(str)
    too_long = texts.str.len() > MAX_TEXT
    texts = texts.where(~too_long, texts.str.slice(0, MAX_TEXT - 1) + "…")
    return texts.to_numpy(dtype=object)


def _percents(points: pd.DataFrame, people: list[str]) -> np.ndarray:
    """One row per point: each person's probability in whole percent (0-100 fits a byte)."""
    if not len(points):
        return np.empty((0, len(people)), dtype=np.uint8)
    probabilities = np.array(points["probabilities"].tolist(), dtype=float).reshape(len(points), -1)
    return np.clip(np.rint(probabilities * 100), 0, 100).astype(np.uint8)


def _hovertemplate(people: list[str], owners_text: str | None) -> str:
    """Name, artists, owners (from `hovertext` when None: shared songs), each person's chance."""
    chances = " · ".join(f"{person} %{{customdata[{i}]}}%" for i, person in enumerate(people))
    liked_by = f"<br>liked by: {owners_text}" if owners_text is not None else ""
    return f"<b>%{{text}}</b><br>%{{hovertext}}{liked_by}<br>model: {chances}<extra></extra>"


def darker(colour: str) -> str:
    """ "#1f77b4" mixed with black: the colour of a person's out-of-place songs."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c * (1 - OUT_OF_PLACE_SHADE)):02x}" for c in (red, green, blue))


def owner_group(owners) -> tuple[str, ...]:
    """The owners of a song, sorted: one trace per group ("alice"; "alice", "bob"; nobody)."""
    return tuple(sorted(owners))


class Songs(NamedTuple):
    """What the traces show of each song, one array entry per row of the points, ready to slice."""

    names: np.ndarray
    artists: np.ndarray
    percents: np.ndarray
    x: np.ndarray
    y: np.ndarray
    misplaced: np.ndarray


def _groups(owners: pd.Series, people: list[str], colours: dict[str, str]) -> list[tuple]:
    """(legend name, colour, row positions, owners for the hover text) of each group of songs.

    Each person's own songs (in the model's order, then people who joined
    after it), then every shared song in one group (None: each song's owners
    go into its hover text), then the songs nobody likes any more.
    """
    owner_count = owners.map(len).to_numpy()
    rank = {person: i for i, person in enumerate(people)}
    singles = sorted({group[0] for group in owners[owner_count == 1]}, key=lambda p: (rank.get(p, len(rank)), p))
    first_owner = owners.str[0].to_numpy()
    groups = [
        (
            person,
            colours.get(person, SHARED_COLOUR),
            np.flatnonzero((owner_count == 1) & (first_owner == person)),
            person,
        )
        for person in singles
    ]
    groups.append(("shared", SHARED_COLOUR, np.flatnonzero(owner_count > 1), None))
    groups.append(("no current owner", NOBODY_COLOUR, np.flatnonzero(owner_count == 0), "nobody"))
    return [group for group in groups if len(group[2])]


def _group_traces(group: tuple, song: Songs, owners: pd.Series, people: list[str], scatter: type) -> tuple[list, list]:
    """A group's traces: its songs in place, then its out-of-place ones (bigger, darker, legend-linked)."""
    name, colour, positions, owners_text = group
    misplaced = song.misplaced
    hovertext = song.artists[positions]
    if owners_text is None:  # shared: who likes each song, beside its artists
        hovertext = hovertext + "<br>liked by: " + np.array([", ".join(o) for o in owners[positions]], dtype=object)
    traces, rows = [], []
    for out in (False, True):
        chosen = misplaced[positions] == out
        if not chosen.any():
            continue
        at = positions[chosen]
        traces.append(
            scatter(
                x=song.x[at],
                y=song.y[at],
                text=song.names[at],
                hovertext=hovertext[chosen],
                customdata=song.percents[at],
                mode="markers",
                name=f"{name} ({len(positions):,})",
                legendgroup=name,
                showlegend=not out or not (~misplaced[positions]).any(),
                marker=dict(size=8, color=darker(colour), opacity=0.9)
                if out
                else dict(size=6, color=colour, opacity=0.8),
                hovertemplate=_hovertemplate(people, owners_text),
            )
        )
        rows.append(at)
    return traces, rows


def _ranges(x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Each axis spans the songs plus a small margin, so the map fills its frame without an empty band."""
    if not len(x):
        return [-1.0, 1.0], [-1.0, 1.0]
    ranges = []
    for values in (x, y):
        low, high = float(values.min()), float(values.max())
        pad = max(high - low, 1e-6) * RANGE_MARGIN
        ranges.append([low - pad, high + pad])
    return ranges[0], ranges[1]


def _height(song: Songs) -> int:
    """A frame of the map's own shape at the page's usual width: no empty band above and below a wide map."""
    x_range, y_range = _ranges(song.x, song.y)
    aspect = (y_range[1] - y_range[0]) / (x_range[1] - x_range[0])
    return int(min(max(TYPICAL_WIDTH * aspect, MIN_HEIGHT), MAX_HEIGHT)) + 40  # + legend and margins


def _layout(height: int, found: str | None, song: Songs) -> dict:
    x_range, y_range = _ranges(song.x, song.y)
    axis = dict(showticklabels=False, showgrid=False, zeroline=False, title=None)
    return dict(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        # Equal axes (a unit is as long across as up): the plot area shrinks to the map's
        # shape rather than padding an axis with empty space.
        xaxis=dict(axis, range=x_range, constrain="domain", constraintoward="center"),
        yaxis=dict(axis, range=y_range, scaleanchor="x", scaleratio=1, constrain="domain", constraintoward="middle"),
        # Keep the user's zoom across reruns, until they jump to another song.
        uirevision=f"found:{found}",
    )


def _found_trace(hit, song: Songs, owners: pd.Series, people: list[str], layout: dict, scatter: type):
    """The star on the song searched for; the view is centred on it, about a sixth of the map around it."""
    x, y = song.x, song.y
    span = max(float(np.ptp(x)), float(np.ptp(y)), 1e-6) / 12
    cx, cy = float(x[hit[0]]), float(y[hit[0]])
    layout["xaxis"]["range"] = [cx - span, cx + span]
    layout["yaxis"]["range"] = [cy - span, cy + span]
    return scatter(
        x=x[hit],
        y=y[hit],
        text=song.names[hit],
        hovertext=song.artists[hit],
        customdata=song.percents[hit],
        mode="markers",
        name="found",
        marker=dict(symbol="star", size=22, color=FOUND_COLOUR, line=dict(width=1.5, color="black")),
        hovertemplate=_hovertemplate(people, ", ".join(owners[hit[0]]) or "nobody"),
    )


def build(
    points: pd.DataFrame,
    people: list[str],
    colours: dict[str, str],
    *,
    found: str | None = None,
    height: int | None = None,
    extent: pd.DataFrame | None = None,
) -> tuple[go.Figure, list[np.ndarray]]:
    """The figure, and for each trace the row positions (in `points`) of its markers.

    `points` has the columns of `taskcode.queries.map_points`; `people` are the
    model's people (the order of the probabilities); `colours` gives each
    owner a colour; `found` is a track id to highlight and centre the view on;
    `extent` (x and y of the whole map, when `points` are a part of it) keeps
    the whole map's frame, so that a filter does not zoom.
    The row positions let a selection in the chart (trace number, point
    number) find its songs.
    """
    frame = points.reset_index(drop=True)
    owners = frame["owners"].map(owner_group)
    song = Songs(
        names=_short(frame["name"]),
        artists=_short(frame["artists"]),
        percents=_percents(frame, people),
        x=frame["x"].to_numpy(dtype=np.float32),
        y=frame["y"].to_numpy(dtype=np.float32),
        misplaced=frame["out_of_place"].to_numpy(dtype=bool),
    )
    scatter = scatter_type(len(frame) if extent is None else len(extent))
    traces, rows = [], []
    for group in _groups(owners, people, colours):
        group_traces, group_rows = _group_traces(group, song, owners, people, scatter)
        traces += group_traces
        rows += group_rows
    whole = song if extent is None else song._replace(x=extent["x"].to_numpy(), y=extent["y"].to_numpy())
    layout = _layout(height or _height(whole), found, whole)
    hit = np.flatnonzero((frame["track_id"] == found).to_numpy()) if found else []
    if len(hit):
        traces.append(_found_trace(hit, song, owners, people, layout, scatter))
        rows.append(hit)
    return go.Figure(data=traces, layout=layout), rows

"""The map as a Plotly WebGL scatter, built lean enough for 100k songs.

What makes it lean (the browser receives every byte of the figure):
- x and y go as float32 arrays, which Plotly sends as packed binary
  ("bdata", 4 bytes a number) instead of decimal text.
- The hover text is *not* one preformatted string per point. Each point
  carries its name (`text`), its artists (`hovertext`) and each person's
  probability in whole percent as a uint8 array (`customdata`, packed binary
  like x and y); one `hovertemplate` per trace turns that into text in the
  browser. (A list [name, artists, 87, 13] per point, as before, made the
  browser build 100k little arrays and Streamlit re-encode 60 % more JSON:
  about 2.5 s more before the map of 100k songs was drawn.)
- Few traces: one per person for the songs only they like (the owner is
  written once, in the trace's template), one for all shared songs (their
  owners go into the hover text, a tenth of the songs), one for songs nobody
  likes any more. One trace per set of owners made hundreds for a class.
- Out-of-place songs (bigger, a darker shade of the owner's colour) sit in a
  trace of their own beside their group's, so no size is sent per song; no
  outline, which software WebGL draws slowly for 100k dots.

Kept free of Streamlit so that tests and the benchmark can build it directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

SHARED_COLOUR = "#9e9e9e"
NOBODY_COLOUR = "#d9d9d9"
FOUND_COLOUR = "#ffd700"
OUT_OF_PLACE_SHADE = 0.45  # out-of-place songs: the owner's colour, this much darker
MAX_TEXT = 60  # characters of a name or artist list shown on hover


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


def darker(colour: str, shade: float = OUT_OF_PLACE_SHADE) -> str:
    """"#1f77b4" mixed with black: the colour of a person's out-of-place songs."""
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c * (1 - shade)):02x}" for c in (red, green, blue))


def owner_group(owners) -> tuple[str, ...]:
    """The owners of a song, sorted: one trace per group ("alice"; "alice", "bob"; nobody)."""
    return tuple(sorted(owners))


def build(points: pd.DataFrame, people: list[str], colours: dict[str, str], *,
          found: str | None = None, height: int = 650) -> tuple[go.Figure, list[np.ndarray]]:
    """The figure, and for each trace the row positions (in `points`) of its markers.

    `points` has the columns of `taskcode.queries.map_points`; `people` are the
    model's people (the order of the probabilities); `colours` gives each
    owner a colour; `found` is a track id to highlight and centre the view on.
    The row positions let a selection in the chart (trace number, point
    number) find its songs.
    """
    frame = points.reset_index(drop=True)
    owners = frame["owners"].map(owner_group)
    owner_count = owners.map(len).to_numpy()
    names, artists, percents = _short(frame["name"]), _short(frame["artists"]), _percents(frame, people)
    x = frame["x"].to_numpy(dtype=np.float32)
    y = frame["y"].to_numpy(dtype=np.float32)
    misplaced = frame["out_of_place"].to_numpy(dtype=bool)
    traces, rows = [], []

    # Each person's own songs (in the model's order, then people who joined after
    # it), then every shared song in one trace (its owners go into its hover
    # text), then the songs nobody likes any more: a handful of traces even for
    # a class of 20, where one trace per group of owners made hundreds.
    rank = {person: i for i, person in enumerate(people)}
    singles = sorted({group[0] for group in owners[owner_count == 1]}, key=lambda p: (rank.get(p, len(rank)), p))
    first_owner = owners.str[0].to_numpy()
    groups = [(person, colours.get(person, SHARED_COLOUR), np.flatnonzero((owner_count == 1) & (first_owner == person)),
               person) for person in singles]
    groups.append(("shared", SHARED_COLOUR, np.flatnonzero(owner_count > 1), None))
    groups.append(("no current owner", NOBODY_COLOUR, np.flatnonzero(owner_count == 0), "nobody"))

    for name, colour, positions, owners_text in groups:
        if len(positions) == 0:
            continue
        hovertext = artists[positions]
        if owners_text is None:  # shared: who likes each song, beside its artists
            hovertext = hovertext + "<br>liked by: " + np.array([", ".join(o) for o in owners[positions]], dtype=object)
        # Out-of-place songs: bigger and darker, in a trace of their own (legend-linked),
        # so nothing is sent per song. Not outlined: with software WebGL the outlines
        # of 100k dots cost more than half a second to draw.
        for out in (False, True):
            chosen = misplaced[positions] == out
            if not chosen.any():
                continue
            at = positions[chosen]
            traces.append(go.Scattergl(
                x=x[at], y=y[at], text=names[at], hovertext=hovertext[chosen], customdata=percents[at],
                mode="markers", name=f"{name} ({len(positions):,})", legendgroup=name,
                showlegend=not out or not (~misplaced[positions]).any(),
                marker=dict(size=8, color=darker(colour), opacity=0.9) if out else dict(size=6, color=colour, opacity=0.8),
                hovertemplate=_hovertemplate(people, owners_text),
            ))
            rows.append(at)

    layout = dict(
        height=height, margin=dict(l=10, r=10, t=30, b=10), hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        xaxis=dict(showticklabels=False, showgrid=False, zeroline=False, title=None),
        yaxis=dict(showticklabels=False, showgrid=False, zeroline=False, title=None,
                   scaleanchor="x", scaleratio=1),
        # Keep the user's zoom across reruns, until they jump to another song.
        uirevision=f"found:{found}",
    )
    hit = np.flatnonzero((frame["track_id"] == found).to_numpy()) if found else []
    if len(hit):
        traces.append(go.Scattergl(
            x=x[hit], y=y[hit], text=names[hit], hovertext=artists[hit], customdata=percents[hit],
            mode="markers", name="found",
            marker=dict(symbol="star", size=22, color=FOUND_COLOUR, line=dict(width=1.5, color="black")),
            hovertemplate=_hovertemplate(people, ", ".join(owners[hit[0]]) or "nobody"),
        ))
        rows.append(hit)
        # Centre the view on it, showing about a sixth of the map around it.
        span = max(float(np.ptp(x)), float(np.ptp(y)), 1e-6) / 12
        cx, cy = float(x[hit[0]]), float(y[hit[0]])
        layout["xaxis"]["range"] = [cx - span, cx + span]
        layout["yaxis"]["range"] = [cy - span, cy + span]
    return go.Figure(data=traces, layout=layout), rows

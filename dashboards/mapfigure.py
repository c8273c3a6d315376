"""The map as a Plotly WebGL scatter, built lean enough for 100k songs.

What makes it lean (the browser receives every byte of the figure):
- x and y go as float32 arrays, which Plotly sends as packed binary
  ("bdata", 4 bytes a number) instead of decimal text.
- The hover text is *not* one preformatted string per point. Each point
  carries only `customdata` = [name, artists, probability % per person]
  (whole percents, so "87" instead of "0.8731..."); one `hovertemplate` per
  trace turns that into text in the browser.
- Owners cost nothing per point: songs are grouped into one trace per set of
  owners (alice; bob; alice and bob), and the owners are written once in
  that trace's template.
- Out-of-place songs are marked by a 1-byte size and a 1-byte outline width
  per point, not by a second trace of rings (big sprites are slow to draw).

Kept free of Streamlit so that tests and the benchmark can build it directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

SHARED_COLOUR = "#9e9e9e"
NOBODY_COLOUR = "#d9d9d9"
OUT_OF_PLACE_COLOUR = "#222222"
FOUND_COLOUR = "#ffd700"
MAX_TEXT = 60  # characters of a name or artist list shown on hover


def _short(texts: pd.Series) -> np.ndarray:
    """Names for the hover box: never empty, never longer than MAX_TEXT."""
    texts = texts.fillna("(no name)").astype(str)
    too_long = texts.str.len() > MAX_TEXT
    texts = texts.where(~too_long, texts.str.slice(0, MAX_TEXT - 1) + "…")
    return texts.to_numpy(dtype=object)


def _customdata(points: pd.DataFrame, people: list[str]) -> np.ndarray:
    """One row per point: name, artists, then each person's probability in whole percent."""
    percents = np.rint(np.array(points["probabilities"].tolist(), dtype=float).reshape(len(points), -1) * 100)
    columns = [_short(points["name"]), _short(points["artists"])]
    columns += [percents[:, i].astype(int).astype(object) for i in range(len(people))]
    return np.column_stack(columns) if len(points) else np.empty((0, 2 + len(people)), dtype=object)


def _hovertemplate(people: list[str], owners_text: str) -> str:
    chances = " · ".join(f"{person} %{{customdata[{2 + i}]}}%" for i, person in enumerate(people))
    return (
        "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>"
        f"liked by: {owners_text}<br>model: {chances}<extra></extra>"
    )


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
    groups = frame["owners"].map(owner_group)
    customdata = _customdata(frame, people)
    x = frame["x"].to_numpy(dtype=np.float32)
    y = frame["y"].to_numpy(dtype=np.float32)
    traces, rows = [], []

    def add(trace, positions):
        traces.append(trace)
        rows.append(np.asarray(positions, dtype=int))

    # Out-of-place songs get a bigger dot with a dark outline. Per-point size and
    # outline width go as uint8 arrays (1 byte a song); a separate trace of rings
    # drawn over the dots would cost far more to draw (each ring is a big sprite).
    misplaced = frame["out_of_place"].to_numpy(dtype=bool)
    sizes = np.where(misplaced, 8, 6).astype(np.uint8)
    outlines = np.where(misplaced, 2, 0).astype(np.uint8)

    # Each person's own songs first (in the model's order), then shared ones, then nobody's.
    rank = {person: i for i, person in enumerate(people)}
    order = sorted(groups.unique(), key=lambda g: (len(g) != 1, len(g) == 0, [rank.get(p, len(rank)) for p in g], g))
    shared_total = int((groups.map(len) > 1).sum())
    shared_shown = False
    for group in order:
        positions = np.flatnonzero((groups == group).to_numpy())
        shared = len(group) > 1
        if len(group) == 1:
            name, colour, count = group[0], colours.get(group[0], SHARED_COLOUR), len(positions)
        elif shared:
            name, colour, count = "shared", SHARED_COLOUR, shared_total
        else:
            name, colour, count = "no current owner", NOBODY_COLOUR, len(positions)
        any_misplaced = bool(misplaced[positions].any())
        add(go.Scattergl(
            x=x[positions], y=y[positions], customdata=customdata[positions],
            mode="markers", name=f"{name} ({count:,})",
            legendgroup=name, showlegend=not (shared and shared_shown),
            marker=dict(
                size=sizes[positions] if any_misplaced else 6,
                color=colour,
                opacity=0.8,
                line=dict(width=outlines[positions] if any_misplaced else 0, color=OUT_OF_PLACE_COLOUR),
            ),
            hovertemplate=_hovertemplate(people, ", ".join(group) or "nobody"),
        ), positions)
        shared_shown = shared_shown or shared

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
        add(go.Scattergl(
            x=x[hit], y=y[hit], customdata=customdata[hit], mode="markers", name="found",
            marker=dict(symbol="star", size=22, color=FOUND_COLOUR, line=dict(width=1.5, color="black")),
            hovertemplate=_hovertemplate(people, ", ".join(groups[hit[0]]) or "nobody"),
        ), hit)
        # Centre the view on it, showing about a sixth of the map around it.
        span = max(float(np.ptp(x)), float(np.ptp(y)), 1e-6) / 12
        cx, cy = float(x[hit[0]]), float(y[hit[0]])
        layout["xaxis"]["range"] = [cx - span, cx + span]
        layout["yaxis"]["range"] = [cy - span, cy + span]
    return go.Figure(data=traces, layout=layout), rows

"""Map: every song where the model's last hidden layer puts it, in two dimensions."""

import common
import mapfigure
import pandas as pd
import streamlit as st

from taskcode import queries

OUT_OF_PLACE_ROWS = 500  # the table lists the most confident ones

st.title("Whose song is it? The map")

maps = common.ask(queries.newest_maps)  # the newest complete map of each version, newest first
if maps.empty:
    st.info(common.NO_MAP)
    st.stop()

# Default: the champion's map.
newest = maps.set_index("model_version")
versions = newest.index.tolist()
champion = common.ask(queries.champion)
default = versions.index(champion["version"]) if champion and champion["version"] in versions else 0


def describe_version(version: int) -> str:
    row = newest.loc[version]
    return f"version {version} ({row['status']}) · map of {row['updated_at']:%Y-%m-%d %H:%M}"


left, middle, right = st.columns([2, 2, 3])
version = left.selectbox("Model version", versions, index=default, format_func=describe_version, key="map_version")
chosen = newest.loc[version]
people = list(chosen["people"])
points = common.ask_shared(queries.map_points, int(chosen["map_id"]))  # shared: never changed here
if points.empty:
    st.info("This map has no songs (the nightly run may have just replaced it): press “Reload data”.")
    st.stop()

shown_people = middle.multiselect(
    "Liked by", people, default=people, key="map_people", help="Show the songs of these people (shared songs included)."
)
search = right.text_input("Find a song or artist", key="map_search", placeholder="part of a title or an artist's name")

# Search: case-insensitive, in titles and artists, as plain text (no regex).
found = None
if search.strip():
    needle = search.strip()
    hits = points[
        points["name"].fillna("").str.contains(needle, case=False, regex=False)
        | points["artists"].fillna("").str.contains(needle, case=False, regex=False)
    ]
    if hits.empty:
        right.warning(f"No song or artist on this map matches “{needle}”.")
    else:
        label = f"Jump to ({len(hits):,} found)" if len(hits) <= 200 else f"Jump to (first 200 of {len(hits):,})"
        hits = hits.sort_values(["name", "track_id"]).head(200)
        labels = dict(zip(hits["track_id"], hits["name"].fillna("(no name)") + " — " + hits["artists"].fillna("")))
        found = right.selectbox(label, hits["track_id"].tolist(), format_func=labels.get, key="map_found")


@st.cache_resource(ttl=common.CACHE_SECONDS, max_entries=8, show_spinner=False)
def drawn(url: str, map_id: int, people: tuple, shown_people: tuple, found: str | None) -> dict:
    """One view of a map: the songs drawn, the figure and its trace rows, and the counts.

    Built once a minute for everyone who looks at the same view (a third of a
    second for 100k songs), and shared like the points: never change it.
    `url` only keys the cache, so that two databases never mix.
    """
    points = common.ask_shared(queries.map_points, map_id)
    # Filter by person: a song stays when one of its owners is chosen
    # (songs nobody likes any more stay only while everyone is chosen).
    chosen_set = set(shown_people)
    keep = points["owners"].map(
        lambda owners: bool(chosen_set.intersection(owners)) or (not owners and chosen_set == set(people))
    )
    shown = points[keep]
    # Colours for the model's people, then for anyone who joined after it was trained.
    newcomers = sorted(set(points["owners"].explode().dropna()) - set(people))
    colours = common.person_colours(list(people) + newcomers)
    # A song found by the search is drawn even when the person filter hides its owners.
    on_map = shown
    if found is not None and found not in set(shown["track_id"]):
        on_map = pd.concat([shown, points[points["track_id"] == found]])
    figure, trace_rows = mapfigure.build(on_map, list(people), colours, found=found)
    return {
        "on_map": on_map,
        "figure": figure,
        "trace_rows": trace_rows,
        "shown": len(shown),
        "out_of_place": int(points["out_of_place"].sum()),
        "shared": int((points["owners"].map(len) > 1).sum()),
    }


view = drawn(common.database_url(), int(chosen["map_id"]), tuple(people), tuple(shown_people), found)
on_map, figure, trace_rows = view["on_map"], view["figure"], view["trace_rows"]
total, visible, misplaced, shared = st.columns(4)
total.metric("Songs on the map", f"{len(points):,}")
visible.metric("Shown", f"{view['shown']:,}")
misplaced.metric("Out of place", f"{view['out_of_place']:,}")
shared.metric("Shared", f"{view['shared']:,}")
st.caption(
    f"Map {chosen['map_id']} of model version {version} ({chosen['status']}), "
    f"made {chosen['updated_at']:%Y-%m-%d %H:%M}. Each dot is a song; songs the model "
    "finds alike lie close together. Colour: who likes it (grey: shared by several people). "
    "Bigger and darker: out of place, the model gives it to someone who does not like it. "
    "Click or lasso songs to list them below."
)
selection = st.plotly_chart(
    figure,
    key="map_chart",
    on_select="rerun",
    selection_mode=("points", "box", "lasso"),
    config={"scrollZoom": True, "displaylogo": False},
)


def song_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Songs as people read them: title, artists, owners, the model's guess, a link."""
    return pd.DataFrame(
        {
            "song": rows["name"],
            "artists": rows["artists"],
            "liked by": rows["owners"].map(", ".join),
            "model says": rows["predicted"],
            "confidence": rows["confidence"],
            "spotify": rows["track_id"].map(common.spotify_link),
        }
    )


table_columns = {
    "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0, format="percent"),
    "spotify": st.column_config.LinkColumn("spotify", display_text="open"),
}

# Songs picked in the chart: (trace, point) -> row of `on_map`.
picked = []
for point in (selection or {}).get("selection", {}).get("points", []):
    curve, index = point.get("curve_number"), point.get("point_index")
    if curve is not None and index is not None and curve < len(trace_rows) and index < len(trace_rows[curve]):
        picked.append(trace_rows[curve][index])
if picked:
    st.subheader(f"Picked in the map ({len(set(picked))})")
    st.dataframe(song_table(on_map.iloc[sorted(set(picked))]), hide_index=True, column_config=table_columns)

st.subheader("Out of place")
out_of_place = points[points["out_of_place"]].sort_values("confidence", ascending=False)
if out_of_place.empty:
    st.caption("No song is out of place: the model agrees with everyone's likes.")
else:
    st.caption(
        "Songs the model confidently gives to someone who does not like them, most confident first"
        + (
            f" (the first {OUT_OF_PLACE_ROWS} of {len(out_of_place):,})."
            if len(out_of_place) > OUT_OF_PLACE_ROWS
            else "."
        )
    )
    st.dataframe(
        song_table(out_of_place.head(OUT_OF_PLACE_ROWS)),
        hide_index=True,
        column_config=table_columns,
        key="out_of_place_table",
    )

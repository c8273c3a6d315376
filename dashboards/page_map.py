"""Map: every song where the model's last hidden layer puts it, in two dimensions.

Everything under the title is one fragment: a filter, a search or a click in
the chart reruns that part alone, and the figure of a view (map, filter,
found song) is built once and shared, so a selection only adds its tables.
"""

import common
import mapfigure
import pandas as pd
import streamlit as st

from taskcode import queries

OUT_OF_PLACE_ROWS = 500  # the table lists the most confident ones
WHY_SONGS = 20  # songs of a selection whose nearest songs are listed
NOBODY_CHOSEN = "Nobody is chosen under “Liked by”: choose one or more people there to see their songs on the map."

st.title("Whose song is it? The map")


@st.cache_resource(ttl=common.CACHE_SECONDS, max_entries=16, show_spinner=False)
def drawn(url: str, map_id: int, people: tuple, shown_people: tuple, found: str | None) -> dict:
    """One view of a map: the songs drawn, the figure and its trace rows, and the counts of the songs shown.

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
    figure, trace_rows = mapfigure.build(on_map, list(people), colours, found=found, extent=points)
    out_of_place = shown[shown["out_of_place"]].sort_values("confidence", ascending=False)
    return {
        "on_map": on_map,
        "figure": figure,
        "trace_rows": trace_rows,
        "shown": len(shown),
        "out_of_place": out_of_place,
        "shared": int((shown["owners"].map(len) > 1).sum()),
    }


def song_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Songs as people read them: title, artists, owners, the model's guess, a link."""
    return pd.DataFrame(
        {
            "song": rows["name"].fillna(common.MISSING),
            "artists": rows["artists"].replace("", common.MISSING).fillna(common.MISSING),
            "liked by": rows["owners"].map(common.names),
            "model says": rows["predicted"],
            "confidence": common.percent(rows["confidence"]),
            "spotify": rows["track_id"].map(common.spotify_link),
        }
    )


TABLE_COLUMNS = {
    "confidence": common.percent_column("confidence"),
    "spotify": st.column_config.LinkColumn("spotify", display_text="open"),
}


def show_songs(title: str, songs: pd.DataFrame, map_id: int, key: str) -> None:
    """A selection (picked or found): its songs, then why the model sees them so (their nearest songs)."""
    st.subheader(title)
    st.dataframe(song_table(songs), hide_index=True, column_config=TABLE_COLUMNS, key=f"{key}_songs")
    why = common.why_table(songs, map_id)
    if why.empty:
        st.caption(common.NO_NEIGHBOURS)
        return
    st.caption(common.WHY_CAPTION)
    shown = why[why["song"].isin(why["song"].drop_duplicates().head(WHY_SONGS).tolist())]
    if len(shown) < len(why):
        st.caption(f"The first {WHY_SONGS} songs of the selection:")
    st.table(shown.set_index("song"))  # plain text, for the few rows it holds


def picked_rows(selection, trace_rows) -> list[int]:
    """Songs picked in the chart: (trace, point) -> row positions of the view's songs."""
    picked = []
    for point in (selection or {}).get("selection", {}).get("points", []):
        curve, index = point.get("curve_number"), point.get("point_index")
        if curve is not None and index is not None and curve < len(trace_rows) and index < len(trace_rows[curve]):
            picked.append(int(trace_rows[curve][index]))
    return sorted(set(picked))


def search_box(points: pd.DataFrame, column) -> str | None:
    """Search: case-insensitive, in titles and artists, as plain text (no regex); the song to jump to."""
    search = column.text_input(
        "Find a song or artist", key="map_search", placeholder="part of a title or an artist's name"
    )
    if not search.strip():
        return None
    needle = search.strip()
    hits = points[
        points["name"].fillna("").str.contains(needle, case=False, regex=False)
        | points["artists"].fillna("").str.contains(needle, case=False, regex=False)
    ]
    if hits.empty:
        column.warning(f"No song or artist on this map matches “{needle}”.")
        return None
    label = f"Jump to ({len(hits):,} found)" if len(hits) <= 200 else f"Jump to (first 200 of {len(hits):,})"
    hits = hits.sort_values(["name", "track_id"]).head(200)
    labels = dict(zip(hits["track_id"], hits["name"].fillna("(no name)") + " — " + hits["artists"].fillna("")))
    return column.selectbox(label, hits["track_id"].tolist(), format_func=labels.get, key="map_found")


def out_of_place_section(out_of_place: pd.DataFrame) -> None:
    st.subheader("Out of place")
    if out_of_place.empty:
        st.caption("No song shown is out of place: the model agrees with these people's likes.")
        return
    more = len(out_of_place) > OUT_OF_PLACE_ROWS
    st.caption(
        "Songs the model confidently gives to someone who does not like them, most confident first"
        + (f" (the first {OUT_OF_PLACE_ROWS} of {len(out_of_place):,})." if more else ".")
    )
    st.dataframe(
        song_table(out_of_place.head(OUT_OF_PLACE_ROWS)),
        hide_index=True,
        column_config=TABLE_COLUMNS,
        key="out_of_place_table",
    )


@st.fragment
def map_view() -> None:
    maps = common.ask(queries.newest_maps)  # the newest complete map of each version, newest first
    if maps.empty:
        st.info(common.NO_MAP)
        return
    newest = maps.set_index("model_version")
    versions = newest.index.tolist()
    champion = common.ask(queries.champion)
    default = versions.index(champion["version"]) if champion and champion["version"] in versions else 0

    def describe_version(version: int) -> str:
        row = newest.loc[version]
        return f"version {version} ({row['status']}) · map of {row['updated_at']:%Y-%m-%d %H:%M}"

    left, middle, right = st.columns([3, 2, 3])
    version = left.selectbox("Model version", versions, index=default, format_func=describe_version, key="map_version")
    chosen = newest.loc[version]
    people, map_id = list(chosen["people"]), int(chosen["map_id"])
    points = common.ask_shared(queries.map_points, map_id)  # shared: never changed here
    if points.empty:
        st.info("This map has no songs (the nightly run may have just replaced it): press “Reload data”.")
        return
    shown_people = middle.multiselect(
        "Liked by",
        people,
        default=people,
        key="map_people",
        help="Show the songs of these people (shared songs included).",
    )
    found = search_box(points, right)
    view = drawn(common.database_url(), map_id, tuple(people), tuple(shown_people), found)

    total, visible, misplaced, shared = st.columns(4)
    total.metric("Songs on the map", f"{len(points):,}")
    visible.metric("Shown", f"{view['shown']:,}")
    misplaced.metric("Out of place", f"{len(view['out_of_place']):,}")
    shared.metric("Shared", f"{view['shared']:,}")
    st.caption(
        f"Map {map_id} of model version {version} ({chosen['status']}), "
        f"made {chosen['updated_at']:%Y-%m-%d %H:%M}. Each dot is a song; songs the model "
        "finds alike lie close together. Colour: who likes it (grey: shared by several people). "
        "Bigger and darker: out of place, the model gives it to someone who does not like it. "
        "Click or lasso songs to list them below, with the songs nearest each."
    )
    if not shown_people and found is None:
        st.info(NOBODY_CHOSEN)
        return
    selection = st.plotly_chart(
        view["figure"],
        key="map_chart",
        on_select="rerun",
        selection_mode=("points", "box", "lasso"),
        config={"scrollZoom": True, "displaylogo": False},
    )
    if found is not None:
        show_songs("Found", points[points["track_id"] == found], map_id, "found")
    picked = picked_rows(selection, view["trace_rows"])
    if picked:
        show_songs(f"Picked in the map ({len(picked)})", view["on_map"].iloc[picked], map_id, "picked")
    out_of_place_section(view["out_of_place"])


map_view()

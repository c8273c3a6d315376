"""Discover: songs each person has not liked yet but probably would, from each other's libraries and a catalog."""

import common
import streamlit as st

from taskcode import queries

st.title("Discover")

NO_DISCOVERIES = (
    "No discoveries yet. Discover ranks the household's songs for each other, and the songs of a catalog "
    "file if there is one (set `paths.catalog_csv` in `config/config.yml`, or `TASKCODE_CATALOG_CSV`, to a "
    "CSV in the “Spotify Tracks Dataset” columns), so: run the pipeline (`make demo` or the nightly DAG) "
    "or `python -m taskcode discover`."
)


def libraries_of(owners: list[str]) -> str:
    """ "from bob's library", "from bob's and carol's libraries"."""
    names = [f"{owner}'s" for owner in owners]
    if len(names) < 2:
        return f"from {''.join(names)} library"
    return f"from {', '.join(names[:-1])} and {names[-1]} libraries"


HEADINGS = {
    "household": "From each other's libraries: songs the others like",
    "catalog": "From the catalog: songs nobody here has liked",
}

if "discoveries" in common.ask(queries.missing_tables):
    st.info("The database lacks the discoveries table: run `python -m taskcode db migrate`.")
    st.stop()

champion = common.ask(queries.champion)
if champion is None:
    st.info(common.NO_MODEL)
    st.stop()

found = common.ask(queries.discoveries, champion["version"])
if found.empty:
    st.info(NO_DISCOVERIES)
    st.stop()

st.caption(
    f"Ranked by the champion, version {champion['version']}: the chance it gives that the "
    "song is the person's, among songs they have not liked."
)
people = [p for p in champion["people"] if p in set(found["person"])]
people += sorted(set(found["person"]) - set(people))
for tab, person in zip(st.tabs(people), people):
    mine = found[found["person"] == person]
    for source, heading in HEADINGS.items():
        rows = mine[mine["source"] == source]
        if rows.empty:
            continue
        tab.markdown(f"**{heading}**")
        columns = ["rank", "name", "artists", "probability", "spotify"]
        if source == "household":
            rows = rows.assign(library=rows["owners"].map(libraries_of))
            columns.insert(3, "library")
        rows = rows.assign(
            artists=rows["artists"].map(common.artist_list),
            probability=common.percent(rows["probability"]),
            spotify=rows["track_id"].map(common.spotify_link),
        )
        tab.dataframe(
            common.blank_missing(rows[columns]),
            hide_index=True,
            column_config={
                "name": st.column_config.TextColumn("song"),
                "library": st.column_config.TextColumn("from"),
                "probability": common.percent_column("probability"),
                "spotify": st.column_config.LinkColumn("spotify", display_text="open"),
            },
        )

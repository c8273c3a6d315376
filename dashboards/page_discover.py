"""Discover: songs from the catalog each person has not liked yet, but probably would."""

import common
import streamlit as st

from taskcode import queries

st.title("Discover")

NO_DISCOVERIES = (
    "No discoveries yet. Discover ranks the songs of a catalog file, so: set `paths.catalog_csv` "
    "in `config/config.yml` (or `TASKCODE_CATALOG_CSV`) to a CSV in the “Spotify Tracks Dataset” "
    "columns, then run the pipeline (`make demo` or the nightly DAG)."
)

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
    rows = found[found["person"] == person]
    tab.dataframe(
        rows.assign(spotify=rows["track_id"].map(common.spotify_link))[
            ["rank", "name", "artists", "probability", "spotify"]
        ],
        hide_index=True,
        column_config={
            "name": st.column_config.TextColumn("song"),
            "probability": st.column_config.ProgressColumn(
                "probability", min_value=0.0, max_value=1.0, format="percent"
            ),
            "spotify": st.column_config.LinkColumn("open in Spotify", display_text="open in Spotify"),
        },
    )

"""Whose song is it? Paste a Spotify track; the champion's answer comes from what the pipeline stored.

No model runs here: the embed step stores every known song's probabilities
with its map point, the discover step those of each household pick and
catalog song it lists, and this page reads them, with a mapped song's nearest
songs (why the model answers so). For any other song it gives the command that
can answer.
"""

import common
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from taskcode import queries
from taskcode.items import track_id_from

st.title("Whose song is it?")

champion = common.ask(queries.champion)
if champion is None:
    st.info(common.NO_MODEL)
    st.stop()

reference = st.text_input(
    "A Spotify track: link, URI or id",
    key="predict_ref",
    placeholder="https://open.spotify.com/track/… or spotify:track:… or the 22-character id",
)
if not reference.strip():
    st.caption("Paste a song from Spotify (Share → Copy song link) to see whose taste it fits.")
    st.stop()

track_id = track_id_from(reference)
if track_id is None:
    st.warning("That is not a Spotify track link, URI or id (an id has 22 letters and digits).")
    st.stop()

CLI_ANSWER = (
    f"`python -m taskcode predict {track_id}` answers it now: from the song's stored audio features, "
    "or for a song without them, from what the feature sources know of it."
)

track = common.ask(queries.track, track_id)
answer = common.ask(queries.prediction, track_id, champion["version"])
if track is None and answer is None:
    people = ", ".join(champion["people"])
    st.warning(
        f"Unknown song: `{track_id}` is not in the database, so the model has never seen it. "
        f"To get it in, like it on Spotify with one of the synced accounts ({people}) and run the sync "
        "(`python -m taskcode sync`, or wait for the nightly pipeline); the next train and embed "
        "put it on the map, and this page can answer."
    )
    st.info(CLI_ANSWER)
    st.stop()

known = track or answer
st.subheader(f"{known['name'] or '(no name)'} — {common.artist_list(known['artists']) or 'unknown artist'}")
owners = track["owners"] if track else []
liked = f"Liked by {', '.join(owners) or 'nobody right now'}" if track else "A catalog song: nobody here has liked it"
st.caption(f"{liked} · [open in Spotify]({common.spotify_link(track_id)})")

if answer is None:
    if track["feature_source"] is None:
        st.info(
            "Known song, but not on the champion's map: it has no audio features yet (no feature "
            "source knew it so far; the sync asks again later), and the model needs them."
        )
    else:
        st.info(
            "Known song, but not on the champion's map yet: it arrived after the last map was drawn. "
            "The next embed run (nightly) places it."
        )
    st.info(CLI_ANSWER)
    st.stop()
if answer["source"] != "map":
    st.caption(f"Answered from the champion's {answer['source']} discoveries (the song is on no map of it).")

chances = pd.Series(answer["probabilities"]).sort_values(ascending=False)
winner = chances.index[0]
st.markdown(f"The champion (version {answer['version']}) says: **{winner}'s song**, {chances.iloc[0]:.0%} sure.")
if answer["out_of_place"]:
    st.markdown(f"Out of place: liked by {', '.join(answer['owners'])}, but it sounds like {winner}'s taste.")

columns = st.columns(len(chances))
for column, (person, chance) in zip(columns, chances.items()):
    column.metric(person, f"{chance:.0%}")
colours = common.person_colours(list(answer["people"]))
bars = go.Figure(
    go.Bar(
        x=chances.values,
        y=chances.index,
        orientation="h",
        marker_color=[colours[p] for p in chances.index],
        text=[f"{c:.0%}" for c in chances.values],
        textposition="auto",
    )
)
bars.update_layout(
    height=80 + 40 * len(chances),
    margin=dict(l=10, r=30, t=10, b=10),  # room for the 100% tick
    xaxis=dict(range=[0, 1], tickformat=".0%", dtick=0.2),
    yaxis=dict(autorange="reversed"),
)
st.plotly_chart(bars, key="predict_chart")

if answer["map_id"] is not None:  # on the champion's map: the songs it sits by
    st.subheader("Why")
    why = common.why_table(pd.DataFrame({"track_id": [track_id], "name": [known["name"]]}), answer["map_id"])
    if why.empty:
        st.caption(common.NO_NEIGHBOURS)
    else:
        st.caption(common.WHY_CAPTION)
        st.table(why.drop(columns="song").set_index(pd.RangeIndex(1, len(why) + 1, name="nearest")))

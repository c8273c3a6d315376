"""Data: what the nightly sync has collected, where the audio features came from, the last runs."""

import json

import common
import plotly.graph_objects as go
import streamlit as st

from taskcode import queries, status
from taskcode.config import load_settings

st.title("The data")

overview = common.ask(queries.overview)
people = common.ask(queries.people, status.lifetime_days(load_settings()))
if people.empty:
    st.info(common.NO_DATA)
    st.stop()

for warning in people["warning"].dropna():
    st.warning(warning)

first, second, third, fourth = st.columns(4)
first.metric("People", overview["people"])
second.metric("Liked songs (now)", f"{overview['likes']:,}")
third.metric("Distinct songs", f"{overview['tracks']:,}")
share = overview["tracks_with_features"] / overview["tracks"] if overview["tracks"] else 0
fourth.metric("Songs with audio features", f"{overview['tracks_with_features']:,} ({share:.0%})")

st.subheader("Per person")
st.dataframe(
    common.blank_missing(
        people.drop(columns="warning"),
        dates=("newest_like", "last_sync", "last_full_sync", "authorized_at", "token_expires_at"),
    ),
    hide_index=True,
    column_config={
        "likes": st.column_config.NumberColumn("likes", help="Liked on Spotify now"),
        "removed": st.column_config.NumberColumn("removed", help="Liked once, gone from Spotify since"),
        "newest_like": st.column_config.TextColumn("newest like"),
        "last_sync": st.column_config.TextColumn("last sync"),
        "last_full_sync": st.column_config.TextColumn("last full sync"),
        "authorized_at": st.column_config.TextColumn("authorized"),
        "token_expires_at": st.column_config.TextColumn(
            "authorization expires", help="Spotify's refresh tokens expire; refreshing does not extend them"
        ),
        "needs_authorize": st.column_config.CheckboxColumn(
            "must authorize", help="python -m taskcode authorize --user NAME"
        ),
    },
)

st.subheader("Audio features by source")
coverage = common.ask(queries.feature_coverage)
if coverage.empty:
    st.caption("Nobody likes a song right now, so there is no coverage to show.")
else:
    colours = {
        "spotify": "#1db954",
        "reccobeats": "#1f77b4",
        "csv": "#9467bd",
        "unknown": "#d62728",
        "not fetched yet": "#bdbdbd",
    }  # also the order of the bars
    wide = coverage.pivot_table(index="person", columns="source", values="tracks", fill_value=0)
    wide = wide[sorted(wide.columns, key=lambda s: list(colours).index(s) if s in colours else len(colours))]
    bars = go.Figure()
    for source in wide.columns:
        bars.add_trace(
            go.Bar(y=wide.index, x=wide[source], name=source, orientation="h", marker_color=colours.get(source))
        )
    bars.update_layout(
        barmode="stack",
        height=120 + 40 * len(wide),
        margin=dict(l=10, r=20, t=40, b=10),
        xaxis=dict(title="liked songs"),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),  # above the bars, clear of the axis
    )
    st.plotly_chart(bars, key="coverage_chart")
    st.caption(
        "“unknown”: every source was asked and none knew the song (asked again after a week); "
        "“not fetched yet”: the next sync asks for it."
    )
    st.dataframe(wide.reset_index(), hide_index=True)

st.subheader("Last runs")
runs = common.ask(queries.recent_runs, 20)
if runs.empty:
    st.caption("No runs recorded yet: every sync, train and embed of the pipeline is listed here.")
else:
    table = runs.assign(
        summary=runs["summary"].map(
            lambda s: json.dumps(s, default=str, ensure_ascii=False, separators=(", ", ": "))[:200]
        )
    )
    st.dataframe(
        common.blank_missing(table, dates=("started_at", "finished_at"), date_format="%Y-%m-%d %H:%M:%S"),
        hide_index=True,
        column_config={
            "run_id": st.column_config.NumberColumn("run"),
            "kind": st.column_config.TextColumn("stage", width=150),
            "started_at": st.column_config.TextColumn("started"),
            "finished_at": st.column_config.TextColumn("finished"),
            "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
        },
    )
    run_id = st.selectbox(
        "Full summary of run",
        runs["run_id"].tolist(),
        key="data_run",
        format_func=lambda r: "run {} · {} · {}".format(r, *runs.set_index("run_id").loc[r, ["kind", "status"]]),
    )
    st.json(runs.set_index("run_id").loc[run_id, "summary"], expanded=True)

"""What every page shares: where the database is, one cached way to ask it, and
the messages shown when there is nothing to show yet.

Pages never open connections themselves: they call `ask(queries.champion, ...)`,
which runs that function of `taskcode.queries` on a read-only connection and
keeps the answer for a minute (per database, so two databases never mix).
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable

import pandas as pd
import psycopg2
import streamlit as st

from taskcode import db, queries
from taskcode.config import load_settings
from taskcode.errors import TaskcodeError

CACHE_SECONDS = 60

# Empty states: what to do when a part of the pipeline has not run yet.
RUN_PIPELINE = (
    "run `make demo` for a demo, or the pipeline (`python -m taskcode sync`, then "
    "`train` and `embed`; the nightly Airflow DAG does all three)"
)
NO_TABLES = "The database has no tables yet: run `python -m taskcode db migrate` (or `make demo`)."
NO_DATA = f"No data yet: nobody's liked songs have been synced. To fill it, {RUN_PIPELINE}."
NO_MODEL = f"No model yet: the pipeline trains one after the first sync. To get one, {RUN_PIPELINE}."
NO_MAP = f"No map yet: the pipeline draws it after a model is promoted. To get one, {RUN_PIPELINE}."


def database_url() -> str:
    """DATABASE_URL (or database.url in the config), else the embedded local PostgreSQL."""
    return _url_of(tuple(sorted(os.environ.items())))


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False, max_entries=8)
def _url_of(environment: tuple) -> str:
    # Reading the config costs milliseconds and every question asks for the URL:
    # once a minute per environment (the key: a test or a shell may change it) is enough.
    settings = load_settings()
    if settings.database.url:
        return settings.database.url
    return _embedded_url(str(settings.paths.data_dir), settings)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Starting the local PostgreSQL…")
def _embedded_url(data_dir: str, _settings) -> str:
    # Finding (or starting) the embedded cluster runs pg_ctl: once a minute is enough.
    # The leading underscore keeps `_settings` out of the cache key; data_dir is the key.
    return db.database_url(_settings)


# A query function keys the cache by its name (Streamlit cannot hash a function's code).
_BY_NAME = {types.FunctionType: lambda question: f"{question.__module__}.{question.__qualname__}"}


def _answer(url: str, question: Callable, *args):
    with queries.read_only(url) as conn:
        return question(conn, *args)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False, hash_funcs=_BY_NAME)
def _ask(url: str, question: Callable, *args):
    return _answer(url, question, *args)


def ask(question: Callable, *args):
    """The answer of `question(conn, *args)`, a function of `taskcode.queries`, cached for a minute."""
    return _ask(database_url(), question, *args)


@st.cache_resource(ttl=CACHE_SECONDS, max_entries=4, show_spinner=False, hash_funcs=_BY_NAME)
def _ask_shared(url: str, question: Callable, *args):
    return _answer(url, question, *args)


def ask_shared(question: Callable, *args):
    """Like `ask`, for big answers (a map's points): one copy shared by every
    session and rerun, never copied, so a page must never change it.

    `ask` hands each rerun its own copy (st.cache_data unpickles it), too slow
    for a big map drawn on every rerun (bench/README.md).
    """
    return _ask_shared(database_url(), question, *args)


def clear_cache() -> None:
    """Forget every cached answer and everything built from them ("Reload data")."""
    st.cache_data.clear()
    st.cache_resource.clear()


def run(page) -> None:
    """Run the chosen page; a database fault is one clear error line, never a traceback."""
    try:
        missing = ask(queries.missing_tables)
        if "people" in missing:
            st.info(NO_TABLES)
            return
        page.run()
    except TaskcodeError as exc:
        st.error(str(exc))
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        st.error(f"the database answered with an error ({first}); reload in a moment")


def spotify_link(track_id: str) -> str:
    return f"https://open.spotify.com/track/{track_id}"


def person_colours(people: list[str]) -> dict[str, str]:
    """A stable colour per person (in the order of the model's people)."""
    palette = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#17becf",
        "#bcbd22",
        "#393b79",
    ]
    return {person: palette[i % len(palette)] for i, person in enumerate(people)}


# -- one way to write a table's cells --------------------------------------------------

MISSING = "—"  # an empty cell: never "None"
ARTIST_SEPARATOR = ", "  # between artists, and between the people who like a song


def names(values) -> str:
    """People (or artists) as one cell: "alice, bob"; nobody is "—"."""
    return ARTIST_SEPARATOR.join(values) if len(values) else MISSING


def artist_list(artists: str | None) -> str | None:
    """Artists as one cell with the one separator (a catalog file writes "a;b")."""
    return ARTIST_SEPARATOR.join(a.strip() for a in artists.split(";")) if artists else artists


def percent(values):
    """Probabilities 0-1 as whole percents (0-100): the one precision of every page."""
    return (values.astype(float) * 100).round().astype("Int64")


def percent_column(label: str, **kwargs):
    """A bar for a whole percent from `percent`."""
    return st.column_config.ProgressColumn(label, min_value=0, max_value=100, format="%d%%", **kwargs)


def blank_missing(frame, dates=(), date_format: str = "%Y-%m-%d %H:%M"):
    """A table without "None": missing text shows as "—", and so do missing `dates` (written as text)."""
    frame = frame.copy()
    for column in dates:
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.strftime(date_format).astype(object)
    text = frame.select_dtypes(include=["object", "string"]).columns
    return frame.fillna({column: MISSING for column in text})


# -- "why": a song's nearest songs in the model's hidden space -------------------------

WHY_CAPTION = (
    "Why: the songs the model finds nearest (in its last hidden layer, not on the picture), and whose they are."
)
NO_NEIGHBOURS = "This map was drawn before nearest songs were stored; the next `embed` stores them."


def why_table(songs: pd.DataFrame, map_id: int) -> pd.DataFrame:
    """Each song's (columns track_id, name) five nearest songs on a map, nearest first, with who likes them."""
    near = ask(queries.neighbours_of, map_id, tuple(songs["track_id"]))
    titles = dict(zip(songs["track_id"], songs["name"].fillna(MISSING)))
    return pd.DataFrame(
        {
            "song": near["track_id"].map(titles),
            "nearest songs": near["name"].fillna(MISSING),
            "artists": near["artists"].replace("", MISSING).fillna(MISSING),
            "liked by": near["owners"].map(names),
        }
    )

"""The catalog CSV in both public layouts, matched by Spotify id and then by ISRC."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from emulator import generate
from emulator.shapes import isrc, popularity
from taskcode import db, features, store
from taskcode.catalog import catalog_features, read_catalog
from taskcode.config import load_settings
from taskcode.errors import DataError
from taskcode.items import SavedTrack, TrackRow

# The "1.2M songs" tracks_features.csv, column for column.
MILLION_SONGS_COLUMNS = (
    "id, name, album, album_id, artists, artist_ids, track_number, disc_number, explicit, danceability, energy, "
    "key, loudness, mode, speechiness, acousticness, instrumentalness, liveness, valence, tempo, duration_ms, "
    "time_signature, year, release_date"
).split(", ")


def million_songs_csv(library, path, *, isrcs: dict[str, str] | None = None) -> list[str]:
    """The library's catalog songs as tracks_features.csv (artists as a Python list); returns their ids."""
    rows = []
    for track_id, track in library.tracks.items():
        if "csv" not in track["known_by"]:
            continue
        album = track.get("album") or {}
        rows.append(
            {
                "id": track_id,
                "name": track["name"],
                "album": album.get("name"),
                "album_id": album.get("id"),
                "artists": str([a["name"] for a in track["artists"]]),
                "artist_ids": str([a["id"] for a in track["artists"]]),
                "track_number": 1,
                "disc_number": 1,
                "explicit": track["explicit"],
                **{name: track["features"][name] for name in MILLION_SONGS_COLUMNS if name in track["features"]},
                "duration_ms": track["duration_ms"],
                "year": int(album["release_date"][:4]) if album.get("release_date") else None,
                "release_date": album.get("release_date"),
                **({"isrc": isrcs.get(track_id)} if isrcs is not None else {}),
            }
        )
    columns = list(MILLION_SONGS_COLUMNS) + (["isrc"] if isrcs is not None else [])
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return [row["id"] for row in rows]


@pytest.fixture(scope="module")
def library():
    return generate(people=2, tracks=60, seed=11, catalog_extra=20)


def test_both_layouts_give_the_same_songs_and_features(library, tmp_path):
    library.write_catalog(tmp_path / "dataset.csv")
    ids = million_songs_csv(library, tmp_path / "tracks_features.csv")
    dataset, million = read_catalog(tmp_path / "dataset.csv"), read_catalog(tmp_path / "tracks_features.csv")
    assert sorted(million.index) == sorted(dataset.index) == sorted(ids)
    million = million.loc[dataset.index]
    assert (million["track_name"] == dataset["track_name"]).all()
    assert (million["artists"] == dataset["artists"]).all()  # "['A', 'B']" read as "A;B"
    mine, theirs = catalog_features(million), catalog_features(dataset)
    same = [c for c in mine.columns if c not in ("release_year", "popularity")]
    pd.testing.assert_frame_equal(mine[same], theirs[same])
    assert theirs["release_year"].isna().all()  # the Tracks Dataset has no year; tracks_features.csv has one
    # ... and tracks_features.csv has no popularity, which the Tracks Dataset has.
    assert mine["popularity"].isna().all()
    assert theirs["popularity"].tolist() == [float(popularity(t)) for t in dataset.index]
    years = [int(library.tracks[t]["album"]["release_date"][:4]) for t in million.index]
    assert mine["release_year"].tolist() == years


def test_artists_with_commas_and_quotes_survive_the_list_text(tmp_path):
    path = tmp_path / "tracks_features.csv"
    row = dict.fromkeys(MILLION_SONGS_COLUMNS, 0.5) | {
        "id": "4uLU6hMCjMI75M1A2tKUQC",
        "name": "Song",
        "explicit": False,
        "artists": str(["Earth, Wind & Fire", "Guns N' Roses"]),
    }
    pd.DataFrame([row], columns=MILLION_SONGS_COLUMNS).to_csv(path, index=False)
    frame = read_catalog(path)
    assert frame.loc["4uLU6hMCjMI75M1A2tKUQC", "artists"] == "Earth, Wind & Fire;Guns N' Roses"
    assert catalog_features(frame)["artist_count"].tolist() == [2.0]


def test_a_missing_column_is_named_as_the_file_names_it(library, tmp_path):
    path = tmp_path / "tracks_features.csv"
    million_songs_csv(library, path)
    pd.read_csv(path).drop(columns=["name", "energy"]).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        read_catalog(path)
    message = str(info.value)
    assert "lacks the column(s) name, energy" in message and "tracks_features.csv (id, name, …)" in message


def test_the_csv_source_matches_by_isrc_when_the_id_differs(library, tmp_path, database_url, write_config, monkeypatch):
    """A relinked release: the catalog has it under another Spotify id, with the same ISRC."""
    catalog_ids = [t for t, track in library.tracks.items() if "csv" in track["known_by"]][:6]
    relinked = {old: "0" * 12 + old[12:] for old in catalog_ids[:3]}  # our ids for three of them
    path = tmp_path / "tracks_features.csv"
    million_songs_csv(library, path, isrcs={t: isrc(t) for t in catalog_ids})
    config = write_config(f"paths:\n  catalog_csv: {path}\nfeatures:\n  sources: [csv]\n")
    monkeypatch.setenv("DATABASE_URL", database_url)
    settings = load_settings(config)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    rows = [TrackRow(new, name="relinked", isrc=isrc(old)) for old, new in relinked.items()]
    rows.append(TrackRow("1" * 22, name="no isrc, unknown id"))
    rows.append(TrackRow("2" * 22, name="an isrc the catalog lacks", isrc="QZ0000000001"))
    with db.connection(settings) as conn:
        db.migrate(conn)
        with db.transaction(conn) as cur:
            person = store.ensure_person(cur, "alice")
            store.upsert_tracks(cur, rows)
            store.upsert_likes(cur, person, [SavedTrack(r, now) for r in rows])
        summary = features.fetch_missing(settings, conn)
        with db.transaction(conn) as cur:
            cur.execute("SELECT track_id, source, energy FROM audio_features ORDER BY track_id")
            stored = {track_id: (source, energy) for track_id, source, energy in cur.fetchall()}
    assert summary.found == {"csv": 3} and summary.unknown == 2
    assert stored == {
        new: ("csv", pytest.approx(library.tracks[old]["features"]["energy"])) for old, new in relinked.items()
    }
    assert np.isfinite([energy for _, energy in stored.values()]).all()

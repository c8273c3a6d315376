"""The model's signals beyond the sound: artists (a lookup without leaks), metadata, popularity if present."""

import numpy as np
import pytest

from emulator import generate
from emulator.database import load_into_database
from emulator.taste import random_ids
from taskcode import dataset, db, registry, train
from taskcode.config import load_settings
from taskcode.metrics import macro_f1
from taskcode.model import model_inputs, probabilities

pytestmark = pytest.mark.slow

ARTISTS_ONLY = """
model:
  hidden_layers: [16]
  epochs: 40
  patience: 40
  dropout: 0
  l2: 0
  min_tracks_per_person: 10
  signals: {audio: false, metadata: false, artists: true}
"""


def test_a_songs_own_label_never_feeds_its_artist_share(conn, write_config):
    """Every song by its own artist: the artists tell nothing, unless a song's own like leaked in."""
    lib = generate(people=2, tracks=300, seed=21)
    for track, artist_id in zip(lib.tracks.values(), random_ids(np.random.default_rng(1), len(lib.tracks))):
        track["artists"] = [{"id": str(artist_id), "name": "Synthetic Solo"}]
    load_into_database(conn, lib)
    settings = load_settings(write_config(ARTISTS_ONLY))
    result = train.train(settings, conn)
    model = registry.load_model(conn, result.version)
    assert [t.name for t in model.inputs] == ["artist_ids", "leave_out"]

    data = dataset.load(settings, conn)
    train_part = data.part("train")
    seen = model.predict(model_inputs(model, train_part, leave_out=True), verbose=0)
    seen = np.hstack([1 - seen, seen]).argmax(axis=1)
    training_f1 = macro_f1(data.people, dataset.labels_of(train_part), seen)
    assert training_f1 < 0.75, "the network learned the songs' own labels through their artist shares"
    # Looked up as a stranger (nobody left out), a training song's share holds its own like.
    leaked = probabilities(model, train_part).argmax(axis=1)
    assert macro_f1(data.people, dataset.labels_of(train_part), leaked) < 0.9


def test_artists_add_what_the_sound_cannot_tell(conn, write_config):
    load_into_database(conn, generate(people=2, tracks=400, seed=22))
    quick = "model:\n  hidden_layers: [8, 4]\n  epochs: 30\n  min_tracks_per_person: 10\n"
    audio = train.train(load_settings(write_config(quick + "  signals: {artists: false, metadata: false}\n")), conn)
    both = train.train(load_settings(write_config(quick)), conn, force=True)
    print(f"\n2x400: audio only {audio.metrics['f1']:.3f}, with artists and metadata {both.metrics['f1']:.3f}")
    assert both.metrics["f1"] >= audio.metrics["f1"] + 0.05
    names = {t.name for t in registry.load_model(conn, audio.version).inputs}
    assert "artist_ids" not in names and "release_year" not in names and "danceability" in names
    names = {t.name for t in registry.load_model(conn, both.version).inputs}
    assert {"artist_ids", "release_year", "explicit", "artist_count", "danceability"} <= names
    assert "popularity" not in names  # this database has no popularity column
    # Beside every version: the baselines on the network's own inputs, and one on the sound alone.
    assert set(both.baselines) == {"logistic_regression", "sklearn_mlp", "audio_only_mlp"}
    assert both.baselines["audio_only_mlp"]["f1"] < both.metrics["f1"] - 0.05
    assert set(audio.baselines) == {"logistic_regression", "sklearn_mlp"}  # its inputs are the sound alone


def test_popularity_is_used_only_where_the_database_has_it(conn, settings):
    load_into_database(conn, generate(people=2, tracks=60, seed=23))
    with db.transaction(conn) as cur:  # a database from before migration 009: no popularity column
        cur.execute("ALTER TABLE tracks DROP COLUMN popularity")
    assert "popularity" not in dataset.load(settings, conn).columns
    with db.transaction(conn) as cur:
        cur.execute("ALTER TABLE tracks ADD COLUMN popularity integer")
    assert "popularity" not in dataset.load(settings, conn).columns  # the column, but no values
    with db.transaction(conn) as cur:
        cur.execute("UPDATE tracks SET popularity = length(track_id) + ascii(track_id) % 50")
    data = dataset.load(settings, conn)
    assert data.columns["popularity"] == "standardize" and data.labelled["popularity"].notna().all()

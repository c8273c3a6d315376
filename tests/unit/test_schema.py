"""The feature schema: one vocabulary, and one rule for turning raw values into numbers."""

import math

import pytest

from taskcode import schema
from taskcode.catalog import CATALOG_COLUMNS, REQUIRED_COLUMNS
from taskcode.features import feature_row


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, 1.0),
        (False, 0.0),
        (3, 3.0),
        (0.25, 0.25),
        ("0.5", 0.5),
        (None, None),
        ("loud", None),
        (math.nan, None),
        (math.inf, None),
        ([1], None),
    ],
)
def test_one_number_rule_for_every_reader(value, expected):
    assert schema.to_number(value) == expected


def test_every_feature_is_described_once():
    assert len(schema.FEATURE_NAMES) == len(set(schema.FEATURE_NAMES))
    for feature in schema.FEATURES:
        assert feature.kind in (float, int, bool)
        assert feature.origin in schema.ORIGINS
        assert set(feature.sources) <= set(schema.FEATURE_SOURCES)
    assert schema.FEATURE_NAMES == schema.AUDIO_FEATURES + schema.METADATA_FEATURES


def test_sources_send_every_audio_feature_and_the_catalog_has_its_columns():
    assert set(schema.AUDIO_FEATURES) <= set(schema.SOURCE_FEATURES)
    assert set(schema.answered_by("csv")) <= set(schema.CATALOG_FEATURES) <= set(CATALOG_COLUMNS)
    assert set(REQUIRED_COLUMNS) <= set(CATALOG_COLUMNS)
    assert "time_signature" not in schema.RECCOBEATS_FIELDS
    with pytest.raises(ValueError, match="unknown feature source 'lastfm'"):
        schema.answered_by("lastfm")


def test_feature_row_types_each_value_by_the_schema():
    raw = {
        "danceability": "0.5",
        "energy": 0.4,
        "loudness": -5,
        "speechiness": 0.1,
        "key": 5.0,
        "mode": True,
        "duration_ms": 200000.0,
        "tempo": math.nan,
    }
    row = feature_row("t1", "csv", raw)
    assert row["danceability"] == 0.5 and row["loudness"] == -5.0 and row["tempo"] is None
    assert (row["key"], row["mode"], row["duration_ms"]) == (5, 1, 200000)
    assert all(type(row[name]) is int for name in ("key", "mode", "duration_ms"))
    assert set(row) == {"track_id", "source", *schema.SOURCE_FEATURES}
    assert feature_row("t1", "csv", {"danceability": 0.5, "energy": 0.4}) is None

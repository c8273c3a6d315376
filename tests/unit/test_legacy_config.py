"""The original project's config.yml loads as it is, each old key translated with one line."""

import logging
import textwrap

import pytest

from taskcode.config import PROJECT_ROOT, load_settings
from taskcode.errors import ConfigError
from tests.conftest import run_cli

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "original-config.yml"
OLD_KEYS = (
    "credentials_path",
    "data_path",
    "model_path",
    "users",
    "model.layers.hidden_1.units",
    "model.layers.hidden_1.activation",
    "model.epochs",
    "model.batch_size",
    "model.learning_rate",
    "features.target",
    "features.categorical_features",
    "features.categorical_labels",
    "features.numerical_features",
    "one_hot_encode_categorical",
    "normalize_numerical",
)
AUDIO = ("danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness", "liveness")


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "taskcode.legacy_config"]


def _load(caplog, path=FIXTURE):
    with caplog.at_level(logging.INFO, logger="taskcode.legacy_config"):
        return load_settings(path)


def _old(write_config, text: str):
    return write_config("users:\n  paulo: some-spotify-id\n" + textwrap.dedent(text))


def test_the_fixture_is_the_original_file_with_its_header():
    assert FIXTURE.read_text(encoding="utf-8").startswith("# The original project's config/config.yml")


def test_the_original_config_gives_our_settings(caplog, monkeypatch):
    monkeypatch.delenv("TASKCODE_DATA_DIR", raising=False)
    settings = _load(caplog)
    assert [person.name for person in settings.users] == ["paulo", "amelia"]
    model = settings.model
    assert (model.hidden_layers, model.activation) == ((5,), "relu")
    assert (model.epochs, model.batch_size, model.learning_rate) == (100, 128, 0.05)
    assert settings.features.columns == {
        "key": "one_hot",
        "mode": "one_hot",
        "time_signature": "one_hot",
        **{name: "standardize" for name in (*AUDIO, "valence", "tempo", "duration_ms")},
    }
    assert settings.paths.data_dir == FIXTURE.parent / "data"


def test_each_old_key_is_named_once_with_its_new_place(caplog):
    _load(caplog)
    lines = _lines(caplog)
    assert all(line.startswith("config: ") and "\n" not in line for line in lines)
    for key in OLD_KEYS:
        assert sum(key in line for line in lines) == 1, key
    said = "\n".join(lines)
    assert "config: model.layers.hidden_1.units -> model.hidden_layers [5]" in lines
    assert "data_path -> paths.data_dir" in said
    assert "credentials_path -> dropped: tokens live in PostgreSQL" in said and "authorize" in said
    assert "model_path -> dropped: models are versions in the registry in PostgreSQL" in said
    assert "users [paulo, amelia]; the Spotify ids are not needed: each person authorizes" in said


def test_the_features_spotify_no_longer_serves_are_dropped_in_one_line(caplog):
    _load(caplog)
    dropped = [line for line in _lines(caplog) if "timbre" in line or "pitches" in line or "popularity" in line]
    assert len(dropped) == 1
    assert "popularity, timbre_0..timbre_11, pitches_0..pitches_11 dropped" in dropped[0]
    assert "Spotify removed /audio-analysis" in dropped[0] and "development-mode apps in 2026" in dropped[0]


def test_our_own_layout_is_not_translated(caplog):
    settings = _load(caplog, PROJECT_ROOT / "config" / "config.yml")
    assert _lines(caplog) == [] and settings.model.hidden_layers == (32, 16)


def test_layers_in_their_order_and_one_activation_said_when_they_differ(caplog, write_config):
    path = _old(
        write_config,
        """
        model:
          layers:
            hidden_10: {units: 2, activation: relu}
            hidden_2: {units: 8, activation: tanh}
            hidden_1: {units: 16, activation: tanh}
        """,
    )
    model = _load(caplog, path).model
    assert (model.hidden_layers, model.activation) == ((16, 8, 2), "tanh")
    differ = [line for line in _lines(caplog) if "differ" in line]
    assert differ == [
        "config: the hidden layers' activations differ (hidden_1 tanh, hidden_2 tanh, hidden_10 relu); "
        "only one activation is supported: using tanh"
    ]


def test_switched_off_encoding_keeps_the_raw_values(caplog, write_config):
    path = _old(
        write_config,
        """
        features:
          categorical_features: [key]
          numerical_features: [energy, timbre_3]
          one_hot_encode_categorical: false
          normalize_numerical: false
        """,
    )
    assert _load(caplog, path).features.columns == {"key": "none", "energy": "none"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("modle_path: ./model\n", "config: unknown key 'modle_path'; allowed: "),
        (
            "model:\n  layers: {hidden_1: {units: 5}}\n  hidden_layers: [5]\n",
            "'model.layers' and 'model.hidden_layers'",
        ),
        ("features:\n  numerical_features: [energy, loudnes]\n", "unknown feature 'loudnes' in 'features.numerical_"),
        ("model:\n  layers: {hidden_1: 5}\n", "'model.layers.hidden_1' must be a mapping with units"),
    ],
)
def test_a_mixed_or_wrong_old_file_gets_one_line_errors(write_config, text, message):
    with pytest.raises(ConfigError) as raised:
        load_settings(_old(write_config, text))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_the_cli_says_the_translation_then_the_one_line_error(write_config):
    result = run_cli("db", "migrate", "--config", str(_old(write_config, "modle_path: ./model\n")))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert "config: users (name: Spotify id) -> users [paulo]" in lines[0]
    assert lines[-1].startswith("error: config: unknown key 'modle_path'")
    assert sum(line.startswith("error:") for line in lines) == 1

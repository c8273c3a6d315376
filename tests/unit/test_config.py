"""Config: defaults, environment overrides, and one-line errors for bad values."""

import pytest
import yaml

from taskcode.config import PlaylistSettings, defaults, environment_variables, load_settings
from taskcode.errors import ConfigError


def test_missing_config_file_gives_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    assert settings.model.hidden_layers == (32, 16)
    assert settings.model.patience == 5
    assert settings.database.embedded
    assert settings.spotify.api_base == "https://api.spotify.com/v1"


def test_project_config_file_is_valid():
    from tests.conftest import PROJECT_ROOT

    settings = load_settings(PROJECT_ROOT / "config" / "config.yml")
    assert settings.paths.data_dir == PROJECT_ROOT / "data"
    assert "key" in settings.features.columns


def test_project_config_file_holds_exactly_the_defaults():
    """config/config.yml documents every key with its default value, and nothing else."""
    from tests.conftest import PROJECT_ROOT

    written = yaml.safe_load((PROJECT_ROOT / "config" / "config.yml").read_text(encoding="utf-8"))
    assert written == defaults()
    assert load_settings(PROJECT_ROOT / "config" / "config.yml").model.hidden_layers == (32, 16)


def test_project_config_file_names_every_environment_override():
    from tests.conftest import PROJECT_ROOT

    header = (PROJECT_ROOT / "config" / "config.yml").read_text(encoding="utf-8").split("\npaths:")[0]
    names = set(environment_variables())
    assert names == {
        "TASKCODE_CONFIG",
        "DATABASE_URL",
        "SPOTIFY_API_BASE",
        "SPOTIFY_ACCOUNTS_BASE",
        "RECCOBEATS_API_BASE",
        "SPOTIFY_CLIENT_ID",
        "SPOTIFY_CLIENT_SECRET",
        "SPOTIFY_REDIRECT_URI",
        "LOG_LEVEL",
        "TASKCODE_DATA_DIR",
        "TASKCODE_CATALOG_CSV",
    }
    assert [name for name in sorted(names) if name not in header] == []
    assert len(environment_variables()) == len(names)  # each once


def test_environment_overrides_file(write_config, monkeypatch):
    path = write_config("""
        spotify:
          api_base: https://example.invalid/v1
        database:
          url: postgresql://file/db
    """)
    monkeypatch.setenv("SPOTIFY_API_BASE", "http://127.0.0.1:9999/v1/")
    monkeypatch.setenv("DATABASE_URL", "postgresql://env/db")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings(path)
    assert settings.spotify.api_base == "http://127.0.0.1:9999/v1"
    assert settings.database.url == "postgresql://env/db"
    assert settings.log_level == "DEBUG"


def test_relative_data_dir_is_relative_to_project_folder(write_config, tmp_path):
    path = write_config("paths:\n  data_dir: somewhere\n")
    assert load_settings(path).paths.data_dir == tmp_path / "somewhere"


def test_users_accept_names_and_mappings(write_config):
    path = write_config("""
        users:
          - alice
          - {name: bob, client_id: abc, client_secret: s3cret}
    """)
    users = load_settings(path).users
    assert [u.name for u in users] == ["alice", "bob"]
    assert users[1].client_id == "abc"
    assert "s3cret" not in repr(users[1])


def test_playlists_are_off_until_the_config_opts_in(write_config):
    assert load_settings(write_config("")).playlists == PlaylistSettings((), None, 30)
    path = write_config("playlists:\n  people: [alice, bob]\n  shared_owner: alice\n  songs: 50\n")
    assert load_settings(path).playlists == PlaylistSettings(("alice", "bob"), "alice", 50)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("model:\n  activation: rleu\n", "'model.activation' is 'rleu'; allowed: relu, tanh"),
        ("playlists:\n  people: alice\n", "'playlists.people' must be a list of names, got 'alice'"),
        ("playlists:\n  people: [alice, '']\n", "'playlists.people[1]' must be a non-empty name"),
        ("playlists:\n  songs: 0\n", "'playlists.songs' must be >= 1 and <= 1000"),
        ("playlists:\n  together: yes\n", "unknown key 'playlists.together'; allowed: people, shared_owner, songs"),
        ("model:\n  hidden_layers: []\n", "'model.hidden_layers' must be a non-empty list"),
        ("model:\n  hidden_layers: [0]\n", "'model.hidden_layers' must be a non-empty list"),
        ("model:\n  dropout: 1.5\n", "'model.dropout' must be >= 0 and <= 0.9"),
        ("model:\n  epochs: ten\n", "'model.epochs' must be an integer"),
        (
            "features:\n  columns:\n    loudnes: standardize\n",
            "unknown feature 'features.columns.loudnes'; allowed: danceability",
        ),
        ("features:\n  columns:\n    energy: one_hot\n", "'features.columns.energy' cannot be one_hot"),
        (
            "features:\n  sources: [spotify, lastfm]\n",
            "'features.sources[1]' is 'lastfm'; allowed: spotify, reccobeats, csv",
        ),
        ("modle:\n  epochs: 3\n", "unknown key 'modle'; allowed: paths, users"),
        ("model:\n  epoch: 3\n", "unknown key 'model.epoch'"),
        ("spotify:\n  page_size: 100\n", "'spotify.page_size' must be >= 1 and <= 50"),
        ("users:\n  - alice\n  - alice\n", "repeats the name 'alice'"),
        ("database:\n  url: mysql://x\n", "must start with postgresql://"),
        (
            "features:\n  reccobeats_api_base: api.reccobeats.com\n",
            "RECCOBEATS_API_BASE (or 'features.reccobeats_api_base') must be an http(s) URL",
        ),
        ("model: [\n", "is not valid YAML at line 2"),
        ("- just\n- a list\n", "'' must be a mapping"),
    ],
)
def test_invalid_config_is_one_line_naming_the_key(write_config, text, expected):
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_missing_explicit_config_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TASKCODE_CONFIG", str(tmp_path / "nope.yml"))
    with pytest.raises(ConfigError, match="TASKCODE_CONFIG points to .*nope.yml, which does not exist"):
        load_settings()


def test_explicit_env_wins_over_process_environment(write_config, monkeypatch):
    """How deployments pass settings built from Airflow Connections."""
    path = write_config("")
    monkeypatch.setenv("DATABASE_URL", "postgresql://process/db")
    settings = load_settings(path, env={"DATABASE_URL": "postgresql://airflow/db", "SPOTIFY_CLIENT_ID": "app"})
    assert settings.database.url == "postgresql://airflow/db"
    assert settings.spotify.client_id == "app"
    assert load_settings(path).database.url == "postgresql://process/db"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("model:\n  promotion_confidence: 0.4\n", "'model.promotion_confidence' must be >= 0.5 and <= 1"),
        ("model:\n  bootstrap_resamples: 999\n", "'model.bootstrap_resamples' must be >= 1000"),
        ("model:\n  bootstrap_resamples: 1500.5\n", "'model.bootstrap_resamples' must be an integer"),
    ],
)
def test_the_gate_asks_for_confidence_and_enough_resamples(write_config, text, expected):
    assert (defaults()["model"]["promotion_confidence"], defaults()["model"]["bootstrap_resamples"]) == (0.95, 2000)
    with pytest.raises(ConfigError, match=expected):
        load_settings(write_config(text))

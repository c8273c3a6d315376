"""The one config loader: `config/config.yml`, then environment variables.

Each setting is declared once, as a field of its settings type: its default,
its check and the environment variable that overrides it; the keys a section
of the file allows are that type's fields. Every setting has a default, so an
empty (or missing) file is valid. Invalid values stop the program with one
line that names the key and what is allowed, because a typo in a nightly job
should fail loudly, not silently train the wrong model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from taskcode.configfile import PROJECT_ROOT as PROJECT_ROOT
from taskcode.configfile import base_dir, default_config_path, environment, read_yaml
from taskcode.errors import ConfigError
from taskcode.legacy_config import translate as translate_old_layout
from taskcode.schema import CATEGORICAL_FEATURES, FEATURE_NAMES, FEATURE_SOURCES, SIGNALS

PREPROCESSING = ("standardize", "log", "one_hot", "none")
ACTIVATIONS = (
    "relu",
    "tanh",
    "sigmoid",
    "elu",
    "selu",
    "gelu",
    "silu",
    "swish",
    "leaky_relu",
    "softplus",
    "linear",
)
LOSSES = ("auto", "binary_crossentropy", "categorical_crossentropy", "focal")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

DEFAULT_FEATURE_COLUMNS = {
    "danceability": "standardize",
    "energy": "standardize",
    "loudness": "standardize",
    "speechiness": "log",
    "acousticness": "standardize",
    "instrumentalness": "log",
    "liveness": "log",
    "valence": "standardize",
    "tempo": "standardize",
    "key": "one_hot",
    "mode": "one_hot",
    "duration_ms": "log",
}


@dataclass(frozen=True)
class _Key:
    """Where a value is read: the key a message names, the variable that overrides
    it, the environment, and the folder relative paths start from."""

    name: str
    env: str | None
    environ: Mapping[str, str] = field(repr=False)
    base_dir: Path

    def child(self, name: str, env: str | None = None) -> _Key:
        return _Key(f"{self.name}.{name}" if self.name else name, env, self.environ, self.base_dir)

    def item(self, index: int) -> _Key:
        return _Key(f"{self.name}[{index}]", None, self.environ, self.base_dir)


def setting(default: Any, check: Callable[[Any, _Key], Any], *, env: str | None = None, secret: bool = False) -> Any:
    """A key of the config file: its default (as the file writes it), the check that
    turns a value into what Settings holds, and the environment variable that wins."""
    return field(repr=not secret, metadata={"default": default, "check": check, "env": env})


# -- checks: each takes the value and its key, returns what to keep or raises one line.


@dataclass(frozen=True)
class _Number:
    low: float | None = None
    high: float | None = None
    integer: bool = False
    low_open: bool = False  # the lower bound itself is not allowed

    def __call__(self, value: Any, key: _Key) -> int | float:
        kind = "an integer" if self.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)):
            raise ConfigError(f"config: '{key.name}' must be {kind}, got {value!r}")
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        if too_low or (self.high is not None and value > self.high):
            low = f"{'>' if self.low_open else '>='} {self.low}" if self.low is not None else ""
            high = f"<= {self.high}" if self.high is not None else ""
            bounds = " and ".join(bound for bound in (low, high) if bound)
            raise ConfigError(f"config: '{key.name}' must be {bounds}, got {value!r}")
        return value


@dataclass(frozen=True)
class _Choice:
    allowed: tuple[str, ...]

    def __call__(self, value: Any, key: _Key) -> str:
        if value not in self.allowed:
            raise ConfigError(f"config: '{key.name}' is {value!r}; allowed: {', '.join(self.allowed)}")
        return value


def _text(value: Any, key: _Key) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"config: '{key.name}' must be text, got {value!r}")
    return value


def _folder(value: Any, key: _Key) -> Path:
    """Relative paths are relative to the project folder."""
    return (key.base_dir / _text(value, key)).resolve()


def _file(value: Any, key: _Key) -> Path | None:
    return _folder(value, key) if _text(value, key) else None


def _url(value: Any, key: _Key) -> str:
    value = _text(value, key).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"config: {key.env} (or '{key.name}') must be an http(s) URL, got {value!r}")
    return value


def _database_url(value: Any, key: _Key) -> str | None:
    if _text(value, key) and not value.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"config: {key.env} (or {key.name}) must start with postgresql://; "
            "unset it to use the embedded local PostgreSQL"
        )
    return value


def _name(value: Any, key: _Key) -> str:
    if not _text(value, key) or not value.strip():
        raise ConfigError(f"config: '{key.name}' must be a non-empty name")
    return value


def _users(value: Any, key: _Key) -> tuple[Person, ...]:
    if not isinstance(value, list):
        shape = ", ".join(f.name for f in fields(Person))
        raise ConfigError(f"config: '{key.name}' must be a list of names (or of {{{shape}}})")
    people: list[Person] = []
    for index, item in enumerate(value):
        person = _section(Person, {"name": item} if isinstance(item, str) else item, key.item(index))
        if any(person.name == other.name for other in people):
            raise ConfigError(
                f"config: '{key.item(index).name}.name' repeats the name {person.name!r}; names must be unique"
            )
        people.append(person)
    return tuple(people)


def _sources(value: Any, key: _Key) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"config: '{key.name}' must be a non-empty list of {', '.join(FEATURE_SOURCES)}")
    return tuple(_Choice(FEATURE_SOURCES)(source, key.item(index)) for index, source in enumerate(value))


def _columns(value: Any, key: _Key) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"config: '{key.name}' must map feature names to a preprocessing")
    columns = {}
    for name, how in value.items():
        if name not in FEATURE_NAMES:
            raise ConfigError(f"config: unknown feature '{key.child(name).name}'; allowed: {', '.join(FEATURE_NAMES)}")
        how = _Choice(PREPROCESSING)("none" if how is None else how, key.child(name))
        if how == "one_hot" and name not in CATEGORICAL_FEATURES:
            raise ConfigError(
                f"config: '{key.child(name).name}' cannot be one_hot; one_hot is for {', '.join(CATEGORICAL_FEATURES)}"
            )
        columns[name] = how
    return columns


def _layers(value: Any, key: _Key) -> tuple[int, ...]:
    wrong = not isinstance(value, list) or not value
    if wrong or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in value):
        raise ConfigError(
            f"config: '{key.name}' must be a non-empty list of positive integers (units per layer), got {value!r}"
        )
    return tuple(value)


def _signals(value: Any, key: _Key) -> dict[str, bool]:
    """Each signal group on or off; a group the file does not name stays on."""
    if not isinstance(value, dict):
        raise ConfigError(f"config: '{key.name}' must map {', '.join(SIGNALS)} to true or false")
    for name, on in value.items():
        if name not in SIGNALS:
            raise ConfigError(f"config: unknown signal '{key.child(name).name}'; allowed: {', '.join(SIGNALS)}")
        if not isinstance(on, bool):
            raise ConfigError(f"config: '{key.child(name).name}' must be true or false, got {on!r}")
    return {name: value.get(name, True) for name in SIGNALS}


def _names(value: Any, key: _Key) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"config: '{key.name}' must be a list of names, got {value!r}")
    return tuple(_name(item, key.item(index)) for index, item in enumerate(value))


def _cron(value: Any, key: _Key) -> str:
    value = _text(value, key)
    if len(value.split()) != 5 and not value.startswith("@"):
        raise ConfigError(f"config: '{key.name}' must be a cron expression like '0 3 * * *', got {value!r}")
    return value


def _log_level(value: Any, key: _Key) -> str:
    level = _text(value, key).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"config: {key.env} (or {key.name}) is {level!r}; allowed: {', '.join(LOG_LEVELS)}")
    return level


# -- the settings types: one field per key of config/config.yml.


@dataclass(frozen=True)
class Person:
    name: str = setting(None, _name)
    client_id: str | None = setting(None, _text)
    client_secret: str | None = setting(None, _text, secret=True)


@dataclass(frozen=True)
class PathSettings:
    data_dir: Path = setting("data", _folder, env="TASKCODE_DATA_DIR")
    catalog_csv: Path | None = setting(None, _file, env="TASKCODE_CATALOG_CSV")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str | None = setting(None, _database_url, env="DATABASE_URL", secret=True)  # None: embedded

    @property
    def embedded(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class SpotifySettings:
    api_base: str = setting("https://api.spotify.com/v1", _url, env="SPOTIFY_API_BASE")
    accounts_base: str = setting("https://accounts.spotify.com", _url, env="SPOTIFY_ACCOUNTS_BASE")
    client_id: str | None = setting(None, _text, env="SPOTIFY_CLIENT_ID")
    client_secret: str | None = setting(None, _text, env="SPOTIFY_CLIENT_SECRET", secret=True)
    redirect_uri: str = setting("http://127.0.0.1:8888/callback", _text, env="SPOTIFY_REDIRECT_URI")
    scope: str = setting("user-library-read", _text)
    timeout_seconds: float = setting(10, _Number(low=0, low_open=True))
    max_retry_after_seconds: float = setting(120, _Number(low=0))
    max_attempts: int = setting(6, _Number(low=1, integer=True))
    page_size: int = setting(50, _Number(low=1, high=50, integer=True))
    backoff_initial_seconds: float = setting(1.0, _Number(low=0))
    backoff_max_seconds: float = setting(30.0, _Number(low=0))
    refresh_token_lifetime_days: float = setting(182, _Number(low=0, low_open=True))


@dataclass(frozen=True)
class FeatureSettings:
    sources: tuple[str, ...] = setting(["reccobeats", "csv"], _sources)
    reccobeats_api_base: str = setting("https://api.reccobeats.com/v1", _url, env="RECCOBEATS_API_BASE")
    retry_unknown_after_days: float = setting(7, _Number(low=0))
    columns: dict[str, str] = setting(DEFAULT_FEATURE_COLUMNS, _columns)


@dataclass(frozen=True)
class ModelSettings:
    hidden_layers: tuple[int, ...] = setting([32, 16], _layers)
    activation: str = setting("relu", _Choice(ACTIVATIONS))
    dropout: float = setting(0.1, _Number(low=0, high=0.9))
    learning_rate: float = setting(0.003, _Number(low=0, low_open=True))
    batch_size: int = setting(64, _Number(low=1, integer=True))
    epochs: int = setting(200, _Number(low=1, integer=True))
    patience: int = setting(5, _Number(low=0, integer=True))
    seed: int = setting(42, _Number(low=0, integer=True))
    loss: str = setting("auto", _Choice(LOSSES))
    min_tracks_per_person: int = setting(20, _Number(low=1, integer=True))
    min_f1_gain: float = setting(0.0, _Number(low=0, high=1))
    promotion_confidence: float = setting(0.95, _Number(low=0.5, high=1))
    bootstrap_resamples: int = setting(2000, _Number(low=1000, integer=True))
    signals: dict[str, bool] = setting({name: True for name in SIGNALS}, _signals)
    validation_fraction: float = setting(0.15, _Number(low=0, low_open=True, high=0.5))
    test_fraction: float = setting(0.2, _Number(low=0, low_open=True, high=0.5))
    l2: float = setting(0.001, _Number(low=0))


@dataclass(frozen=True)
class MapSettings:
    perplexity: float = setting(30, _Number(low=1))
    n_iter: int = setting(500, _Number(low=50, integer=True))
    seed: int = setting(42, _Number(low=0, integer=True))


@dataclass(frozen=True)
class PlaylistSettings:
    people: tuple[str, ...] = setting([], _names)
    shared_owner: str | None = setting(None, _text)
    songs: int = setting(30, _Number(low=1, high=1000, integer=True))


@dataclass(frozen=True)
class ScheduleSettings:
    nightly: str = setting("0 3 * * *", _cron)


@dataclass(frozen=True)
class LoggingSettings:
    level: str = setting("INFO", _log_level, env="LOG_LEVEL")


@dataclass(frozen=True)
class Settings:
    config_path: Path | None = field(metadata={"file": False})
    paths: PathSettings
    users: tuple[Person, ...] = setting([], _users)
    database: DatabaseSettings
    spotify: SpotifySettings
    features: FeatureSettings
    model: ModelSettings
    map: MapSettings
    playlists: PlaylistSettings
    schedule: ScheduleSettings
    logging: LoggingSettings

    @property
    def log_level(self) -> str:
        return self.logging.level


# -- reading


def _file_fields(cls: type) -> list:
    return [f for f in fields(cls) if f.metadata.get("file", True)]


def defaults(cls: type = Settings) -> dict:
    """Every key of the config file with its default, as config/config.yml writes it."""
    hints = get_type_hints(cls)
    return {
        f.name: copy.deepcopy(f.metadata["default"]) if "check" in f.metadata else defaults(hints[f.name])
        for f in _file_fields(cls)
    }


def environment_variables(cls: type = Settings) -> list[str]:
    """Every variable that overrides a setting, and TASKCODE_CONFIG: what a test or benchmark clears."""
    hints = get_type_hints(cls)
    names = [] if cls is not Settings else ["TASKCODE_CONFIG"]
    for f in _file_fields(cls):
        if "check" not in f.metadata:
            names += environment_variables(hints[f.name])
        elif f.metadata["env"]:
            names.append(f.metadata["env"])
    return names


def _mapping(raw: Any, key: _Key, allowed: list[str]) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config: '{key.name}' must be a mapping of {', '.join(allowed)}")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(f"config: unknown key '{key.child(unknown[0]).name}'; allowed: {', '.join(allowed)}")
    return raw


def _section(cls: type, raw: Any, key: _Key, **given: Any):
    """One settings type from its mapping in the file: its fields are the allowed keys."""
    hints = get_type_hints(cls)
    own = _file_fields(cls)
    raw = _mapping(raw, key, [f.name for f in own])
    values = dict(given)
    for f in own:
        child = key.child(f.name, f.metadata.get("env"))
        if "check" in f.metadata:
            values[f.name] = f.metadata["check"](_value(raw.get(f.name), f.metadata["default"], child), child)
        else:
            values[f.name] = _section(hints[f.name], raw.get(f.name), child)
    return cls(**values)


def _value(written: Any, default: Any, key: _Key) -> Any:
    """The environment variable when set, else the file's value, else the default."""
    if key.env and key.environ.get(key.env):
        return key.environ[key.env]
    return default if written is None else written


def load_settings(path: Path | str | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config; environment variables (and then `env`) win over the file."""
    environ = environment(env)
    config_path = Path(path) if path else default_config_path(environ)
    raw = read_yaml(config_path) if config_path is not None else {}
    raw = translate_old_layout(raw)  # the original project's config.yml, key by key
    root = _Key("", None, environ, base_dir(config_path))
    return _section(Settings, raw, root, config_path=config_path)

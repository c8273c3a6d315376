"""The one config loader: `config/config.yml`, then environment variables.

Every setting has a default, so an empty (or missing) config file is valid.
Invalid values stop the program with one line that names the key and what
is allowed, because a typo in a nightly job should fail loudly, not silently
train the wrong model.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from taskcode.errors import ConfigError
from taskcode.schema import CATEGORICAL_FEATURES, FEATURE_NAMES, FEATURE_SOURCES

PROJECT_ROOT = Path(__file__).resolve().parent.parent

PREPROCESSING = ("standardize", "log", "one_hot", "none")
ACTIVATIONS = (
    "relu", "tanh", "sigmoid", "elu", "selu", "gelu", "silu", "swish",
    "leaky_relu", "softplus", "linear",
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
class Person:
    name: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PathSettings:
    data_dir: Path
    catalog_csv: Path | None


@dataclass(frozen=True)
class DatabaseSettings:
    url: str | None = field(repr=False)  # None: the embedded local cluster

    @property
    def embedded(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class SpotifySettings:
    api_base: str
    accounts_base: str
    client_id: str | None
    client_secret: str | None = field(repr=False)
    redirect_uri: str
    scope: str
    timeout_seconds: float
    max_retry_after_seconds: float
    max_attempts: int
    page_size: int
    backoff_initial_seconds: float
    backoff_max_seconds: float


@dataclass(frozen=True)
class FeatureSettings:
    sources: tuple[str, ...]
    reccobeats_api_base: str
    retry_unknown_after_days: float
    columns: dict[str, str]


@dataclass(frozen=True)
class ModelSettings:
    hidden_layers: tuple[int, ...]
    activation: str
    dropout: float
    learning_rate: float
    batch_size: int
    epochs: int
    patience: int
    seed: int
    loss: str
    min_tracks_per_person: int
    min_f1_gain: float
    validation_fraction: float
    test_fraction: float
    l2: float = 0.001


@dataclass(frozen=True)
class MapSettings:
    perplexity: float
    n_iter: int
    seed: int


@dataclass(frozen=True)
class ScheduleSettings:
    nightly: str


@dataclass(frozen=True)
class Settings:
    config_path: Path | None
    paths: PathSettings
    users: tuple[Person, ...]
    database: DatabaseSettings
    spotify: SpotifySettings
    features: FeatureSettings
    model: ModelSettings
    map: MapSettings
    schedule: ScheduleSettings
    log_level: str


# --------------------------------------------------------------------------
# Small typed readers: each names the full key in its error message.


class _Group:
    """A mapping from the YAML file that remembers where it came from."""

    def __init__(self, raw: Any, path: str, allowed: tuple[str, ...]):
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"config: '{path}' must be a mapping of {', '.join(allowed)}")
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            raise ConfigError(
                f"config: unknown key '{_join(path, unknown[0])}'; allowed: {', '.join(allowed)}"
            )
        self.raw, self.path = raw, path

    def key(self, name: str) -> str:
        return _join(self.path, name)

    def get(self, name: str, default: Any) -> Any:
        value = self.raw.get(name, default)
        return default if value is None else value

    def number(self, name, default, *, low=None, high=None, integer=False, low_open=False):
        value = self.get(name, default)
        kind = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            integer and not isinstance(value, int)
        ):
            raise ConfigError(f"config: '{self.key(name)}' must be {kind}, got {value!r}")
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            bound = f"{'>' if low_open else '>='} {low}" if low is not None else ""
            if high is not None:
                bound = f"{bound} and <= {high}" if bound else f"<= {high}"
            raise ConfigError(f"config: '{self.key(name)}' must be {bound}, got {value!r}")
        return value

    def choice(self, name, default, allowed):
        value = self.get(name, default)
        if value not in allowed:
            raise ConfigError(
                f"config: '{self.key(name)}' is {value!r}; allowed: {', '.join(allowed)}"
            )
        return value

    def text(self, name, default):
        value = self.get(name, default)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"config: '{self.key(name)}' must be text, got {value!r}")
        return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# Extra variables for one load_settings call (e.g. built from Airflow Connections).
_overrides: ContextVar[Mapping[str, str]] = ContextVar("taskcode_env_overrides", default={})


def _env(name: str) -> str | None:
    value = _overrides.get().get(name) or os.environ.get(name)
    return value if value else None


# --------------------------------------------------------------------------


def default_config_path() -> Path | None:
    """TASKCODE_CONFIG, else config/config.yml in the working or project folder."""
    explicit = _env("TASKCODE_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"config: TASKCODE_CONFIG points to {path}, which does not exist; "
                "fix the path or unset TASKCODE_CONFIG"
            )
        return path
    for base in (Path.cwd(), PROJECT_ROOT):
        candidate = base / "config" / "config.yml"
        if candidate.is_file():
            return candidate
    return None


def load_settings(path: Path | str | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config; environment variables (and then `env`) win over the file."""
    token = _overrides.set(dict(env or {}))
    try:
        return _load(path)
    finally:
        _overrides.reset(token)


def _load(path: Path | str | None) -> Settings:
    config_path = Path(path) if path else default_config_path()
    raw: Any = {}
    if config_path is not None:
        try:
            raw = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(f"config: {config_path} is not valid YAML{where}: {problem}") from None
        except OSError as exc:
            raise ConfigError(f"config: cannot read {config_path}: {exc.strerror}") from None
    base_dir = _base_dir(config_path)
    top = _Group(
        raw, "",
        ("paths", "users", "database", "spotify", "features", "model", "map", "schedule", "logging"),
    )
    return Settings(
        config_path=config_path,
        paths=_paths(_Group(top.raw.get("paths"), "paths", ("data_dir", "catalog_csv")), base_dir),
        users=_users(top.raw.get("users")),
        database=_database(_Group(top.raw.get("database"), "database", ("url",))),
        spotify=_spotify(_Group(top.raw.get("spotify"), "spotify", (
            "api_base", "accounts_base", "client_id", "client_secret", "redirect_uri", "scope",
            "timeout_seconds", "max_retry_after_seconds", "max_attempts", "page_size",
            "backoff_initial_seconds", "backoff_max_seconds",
        ))),
        features=_features(_Group(top.raw.get("features"), "features", (
            "sources", "reccobeats_api_base", "retry_unknown_after_days", "columns",
        ))),
        model=_model(_Group(top.raw.get("model"), "model", (
            "hidden_layers", "activation", "dropout", "learning_rate", "batch_size", "epochs",
            "patience", "seed", "loss", "min_tracks_per_person", "min_f1_gain",
            "validation_fraction", "test_fraction", "l2",
        ))),
        map=_map(_Group(top.raw.get("map"), "map", ("perplexity", "n_iter", "seed"))),
        schedule=_schedule(_Group(top.raw.get("schedule"), "schedule", ("nightly",))),
        log_level=_log_level(_Group(top.raw.get("logging"), "logging", ("level",))),
    )


def _base_dir(config_path: Path | None) -> Path:
    """Relative paths in config/config.yml are relative to the project folder."""
    if config_path is None:
        return Path.cwd()
    folder = config_path.resolve().parent
    return folder.parent if folder.name == "config" else folder


def _paths(group: _Group, base_dir: Path) -> PathSettings:
    data_dir = _env("TASKCODE_DATA_DIR") or group.text("data_dir", "data")
    catalog = _env("TASKCODE_CATALOG_CSV") or group.text("catalog_csv", None)
    return PathSettings(
        data_dir=(base_dir / data_dir).resolve(),
        catalog_csv=(base_dir / catalog).resolve() if catalog else None,
    )


def _users(raw: Any) -> tuple[Person, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("config: 'users' must be a list of names (or of {name, client_id, client_secret})")
    people, seen = [], set()
    for index, item in enumerate(raw):
        key = f"users[{index}]"
        if isinstance(item, str):
            item = {"name": item}
        group = _Group(item, key, ("name", "client_id", "client_secret"))
        name = group.text("name", None)
        if not name or not name.strip():
            raise ConfigError(f"config: '{key}.name' must be a non-empty name")
        if name in seen:
            raise ConfigError(f"config: '{key}.name' repeats the name {name!r}; names must be unique")
        seen.add(name)
        people.append(Person(name, group.text("client_id", None), group.text("client_secret", None)))
    return tuple(people)


def _database(group: _Group) -> DatabaseSettings:
    url = _env("DATABASE_URL") or group.text("url", None)
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "config: DATABASE_URL (or database.url) must start with postgresql://; "
            "unset it to use the embedded local PostgreSQL"
        )
    return DatabaseSettings(url=url)


def _spotify(group: _Group) -> SpotifySettings:
    def url(name, env, default):
        value = (_env(env) or group.text(name, default)).rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ConfigError(f"config: {env} (or 'spotify.{name}') must be an http(s) URL, got {value!r}")
        return value

    page_size = group.number("page_size", 50, low=1, high=50, integer=True)
    return SpotifySettings(
        api_base=url("api_base", "SPOTIFY_API_BASE", "https://api.spotify.com/v1"),
        accounts_base=url("accounts_base", "SPOTIFY_ACCOUNTS_BASE", "https://accounts.spotify.com"),
        client_id=_env("SPOTIFY_CLIENT_ID") or group.text("client_id", None),
        client_secret=_env("SPOTIFY_CLIENT_SECRET") or group.text("client_secret", None),
        redirect_uri=_env("SPOTIFY_REDIRECT_URI")
        or group.text("redirect_uri", "http://127.0.0.1:8888/callback"),
        scope=group.text("scope", "user-library-read"),
        timeout_seconds=group.number("timeout_seconds", 10, low=0, low_open=True),
        max_retry_after_seconds=group.number("max_retry_after_seconds", 120, low=0),
        max_attempts=group.number("max_attempts", 6, low=1, integer=True),
        page_size=page_size,
        backoff_initial_seconds=group.number("backoff_initial_seconds", 1.0, low=0),
        backoff_max_seconds=group.number("backoff_max_seconds", 30.0, low=0),
    )


def _features(group: _Group) -> FeatureSettings:
    sources = group.get("sources", list(FEATURE_SOURCES))
    if not isinstance(sources, list) or not sources:
        raise ConfigError(
            f"config: 'features.sources' must be a non-empty list of {', '.join(FEATURE_SOURCES)}"
        )
    for index, source in enumerate(sources):
        if source not in FEATURE_SOURCES:
            raise ConfigError(
                f"config: 'features.sources[{index}]' is {source!r}; allowed: {', '.join(FEATURE_SOURCES)}"
            )
    columns_raw = group.get("columns", DEFAULT_FEATURE_COLUMNS)
    if not isinstance(columns_raw, dict) or not columns_raw:
        raise ConfigError("config: 'features.columns' must map feature names to a preprocessing")
    columns = {}
    for name, how in columns_raw.items():
        if name not in FEATURE_NAMES:
            raise ConfigError(
                f"config: unknown feature 'features.columns.{name}'; allowed: {', '.join(FEATURE_NAMES)}"
            )
        how = "none" if how is None else how
        if how not in PREPROCESSING:
            raise ConfigError(
                f"config: 'features.columns.{name}' is {how!r}; allowed: {', '.join(PREPROCESSING)}"
            )
        if how == "one_hot" and name not in CATEGORICAL_FEATURES:
            raise ConfigError(
                f"config: 'features.columns.{name}' cannot be one_hot; "
                f"one_hot is for {', '.join(CATEGORICAL_FEATURES)}"
            )
        columns[name] = how
    base = (_env("RECCOBEATS_API_BASE") or group.text("reccobeats_api_base", "https://api.reccobeats.com/v1"))
    return FeatureSettings(
        sources=tuple(sources),
        reccobeats_api_base=base.rstrip("/"),
        retry_unknown_after_days=group.number("retry_unknown_after_days", 7, low=0),
        columns=columns,
    )


def _model(group: _Group) -> ModelSettings:
    layers = group.get("hidden_layers", [32, 16])
    if (
        not isinstance(layers, list)
        or not layers
        or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in layers)
    ):
        raise ConfigError(
            "config: 'model.hidden_layers' must be a non-empty list of positive integers "
            f"(units per layer), got {layers!r}"
        )
    validation = group.number("validation_fraction", 0.15, low=0, low_open=True, high=0.5)
    test = group.number("test_fraction", 0.2, low=0, low_open=True, high=0.5)
    return ModelSettings(
        hidden_layers=tuple(layers),
        activation=group.choice("activation", "relu", ACTIVATIONS),
        dropout=group.number("dropout", 0.1, low=0, high=0.9),
        learning_rate=group.number("learning_rate", 0.003, low=0, low_open=True),
        batch_size=group.number("batch_size", 64, low=1, integer=True),
        epochs=group.number("epochs", 200, low=1, integer=True),
        patience=group.number("patience", 5, low=0, integer=True),
        seed=group.number("seed", 42, low=0, integer=True),
        loss=group.choice("loss", "auto", LOSSES),
        min_tracks_per_person=group.number("min_tracks_per_person", 20, low=1, integer=True),
        min_f1_gain=group.number("min_f1_gain", 0.0, low=0, high=1),
        validation_fraction=validation,
        test_fraction=test,
        l2=group.number("l2", 0.001, low=0),
    )


def _map(group: _Group) -> MapSettings:
    return MapSettings(
        perplexity=group.number("perplexity", 30, low=1),
        n_iter=group.number("n_iter", 500, low=50, integer=True),
        seed=group.number("seed", 42, low=0, integer=True),
    )


def _schedule(group: _Group) -> ScheduleSettings:
    nightly = group.text("nightly", "0 3 * * *")
    if len(nightly.split()) != 5 and not nightly.startswith("@"):
        raise ConfigError(
            f"config: 'schedule.nightly' must be a cron expression like '0 3 * * *', got {nightly!r}"
        )
    return ScheduleSettings(nightly=nightly)


def _log_level(group: _Group) -> str:
    level = (_env("LOG_LEVEL") or group.text("level", "INFO")).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"config: LOG_LEVEL (or logging.level) is {level!r}; allowed: {', '.join(LOG_LEVELS)}")
    return level

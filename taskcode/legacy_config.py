"""The original project's config.yml, read as it is: each old key in its new place.

Users of the original project (pauloesampaio/spotify_song_classifier) point
ours at their file. Its keys are translated into our layout before
validation, each with one INFO line that names where it went (or why it is
no longer needed), so nobody has to rewrite a file to try the project. Keys
that neither layout knows are left in place, so a typo still stops the
program with the usual one-line ConfigError.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from taskcode.errors import ConfigError
from taskcode.schema import CATEGORICAL_FEATURES, FEATURE_NAMES

log = logging.getLogger(__name__)

# Top-level keys only the old layout has, and where each thing lives now.
OLD_PATHS = {
    "credentials_path": "dropped: tokens live in PostgreSQL, stored by `python -m taskcode authorize --user NAME`",
    "model_path": "dropped: models are versions in the registry in PostgreSQL (`python -m taskcode model list`)",
}
OLD_MODEL_KEYS = ("layers",)
OLD_FEATURE_KEYS = (
    "target",
    "categorical_features",
    "categorical_labels",
    "numerical_features",
    "one_hot_encode_categorical",
    "normalize_numerical",
)
# Model keys whose place did not change.
SAME_MODEL_KEYS = ("epochs", "batch_size", "learning_rate")
# What the original project read from endpoints Spotify no longer serves new apps.
GONE_FEATURE = re.compile(r"^(popularity|timbre_\d+|pitches_\d+)$")
GONE_REASON = (
    "Spotify removed /audio-analysis (timbre_*, pitches_*) and the track's popularity for development-mode apps "
    "in 2026; popularity still comes, where a source gives it, with model.signals.metadata"
)


def is_old(raw: Any) -> bool:
    """True when the file has keys only the original project's layout has."""
    if not isinstance(raw, dict):
        return False
    model, features = raw.get("model"), raw.get("features")
    return (
        isinstance(raw.get("users"), dict)
        or any(key in raw for key in (*OLD_PATHS, "data_path"))
        or (isinstance(model, dict) and any(key in model for key in OLD_MODEL_KEYS))
        or (isinstance(features, dict) and any(key in features for key in OLD_FEATURE_KEYS))
    )


def translate(raw: Any) -> Any:
    """Our layout from the original project's; a file of our own layout comes back unchanged."""
    if not is_old(raw):
        return raw
    raw = dict(raw)
    _paths(raw)
    if isinstance(raw.get("users"), dict):
        raw["users"] = _users(raw["users"])
    if isinstance(raw.get("model"), dict):
        raw["model"] = _model(dict(raw["model"]))
    if isinstance(raw.get("features"), dict):
        raw["features"] = _features(dict(raw["features"]))
    return raw


def _moved(old: str, new: str) -> None:
    log.info("config: %s -> %s", old, new)


def _paths(raw: dict) -> None:
    for key, where in OLD_PATHS.items():
        if key in raw:
            raw.pop(key)
            _moved(key, where)
    if "data_path" in raw:
        paths = raw.get("paths") or {}
        if not isinstance(paths, dict) or "data_dir" in paths:
            raise ConfigError("config: 'data_path' and 'paths.data_dir' are both given; keep paths.data_dir")
        raw["paths"] = {**paths, "data_dir": raw.pop("data_path")}
        _moved("data_path", "paths.data_dir")


def _users(mapping: dict) -> list[str]:
    names = list(mapping)
    _moved(
        "users (name: Spotify id)",
        f"users [{', '.join(map(str, names))}]; the Spotify ids are not needed: each person authorizes "
        "(`python -m taskcode authorize --user NAME`) and Spotify says whose library it is",
    )
    return names


def _model(model: dict) -> dict:
    if "layers" in model:
        for ours in ("hidden_layers", "activation"):
            if ours in model:
                raise ConfigError(f"config: 'model.layers' and 'model.{ours}' are both given; keep model.{ours}")
        model.update(_layers(model.pop("layers")))
    same = [f"model.{key}" for key in SAME_MODEL_KEYS if key in model]
    if same:
        _moved(", ".join(same), "the same places")
    return model


def _layers(layers: Any) -> dict:
    """`hidden_N: {units, activation}` in N's order as hidden_layers and the one activation."""
    if not isinstance(layers, dict) or not layers:
        raise ConfigError("config: 'model.layers' must map hidden_1, hidden_2, ... to {units, activation}")
    names = sorted(layers, key=lambda name: int(m.group(1)) if (m := re.search(r"(\d+)$", str(name))) else 0)
    for name in names:
        if not isinstance(layers[name], dict) or "units" not in layers[name]:
            raise ConfigError(f"config: 'model.layers.{name}' must be a mapping with units (and activation)")
    units = [layers[name]["units"] for name in names]
    _moved(", ".join(f"model.layers.{name}.units" for name in names), f"model.hidden_layers {units}")
    translated: dict = {"hidden_layers": units}
    given = [(name, layers[name]["activation"]) for name in names if "activation" in layers[name]]
    if given:
        translated["activation"] = given[0][1]
        _moved(", ".join(f"model.layers.{name}.activation" for name, _ in given), f"model.activation {given[0][1]}")
    if len({activation for _, activation in given}) > 1:
        log.info(
            "config: the hidden layers' activations differ (%s); only one activation is supported: using %s",
            ", ".join(f"{name} {activation}" for name, activation in given),
            given[0][1],
        )
    return translated


def _features(features: dict) -> dict:
    if any(key in features for key in ("categorical_features", "numerical_features")) and "columns" in features:
        raise ConfigError("config: 'features.columns' and the old feature lists are both given; keep features.columns")
    if "target" in features:
        features.pop("target")
        _moved("features.target", "dropped: the label is who liked the song, read from the likes in the database")
    if "categorical_labels" in features:
        features.pop("categorical_labels")
        _moved("features.categorical_labels", "dropped: each one-hot column's categories are fixed in taskcode.model")
    columns = {
        **_categorical(features.pop("categorical_features", None), features.pop("one_hot_encode_categorical", None)),
        **_numerical(features.pop("numerical_features", None), features.pop("normalize_numerical", None)),
    }
    if columns:
        features["columns"] = columns
    return features


def _feature_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(f"config: 'features.{key}' must be a list of feature names")
    unknown = [name for name in value if name not in FEATURE_NAMES and not GONE_FEATURE.match(str(name))]
    if unknown:
        raise ConfigError(
            f"config: unknown feature {unknown[0]!r} in 'features.{key}'; allowed: {', '.join(FEATURE_NAMES)}"
        )
    return value


def _categorical(names: Any, one_hot: Any) -> dict[str, str]:
    switch = "" if one_hot is None else f" (one_hot_encode_categorical: {one_hot})"
    if names is None:
        if one_hot is not None:
            _moved("features.one_hot_encode_categorical", "dropped: there is no categorical_features list")
        return {}
    names = _feature_list(names, "categorical_features")
    columns = {name: "one_hot" if one_hot is not False and name in CATEGORICAL_FEATURES else "none" for name in names}
    _moved(f"features.categorical_features{switch}", "features.columns " + _described(columns))
    return columns


def _numerical(names: Any, normalize: Any) -> dict[str, str]:
    switch = "" if normalize is None else f" (normalize_numerical: {normalize})"
    if names is None:
        if normalize is not None:
            _moved("features.normalize_numerical", "dropped: there is no numerical_features list")
        return {}
    names = _feature_list(names, "numerical_features")
    gone = [name for name in names if GONE_FEATURE.match(str(name))]
    columns = {name: "none" if normalize is False else "standardize" for name in names if name not in gone}
    _moved(f"features.numerical_features{switch}", "features.columns " + _described(columns))
    if gone:
        log.info("config: features %s dropped: %s", _ranges(gone), GONE_REASON)
    return columns


def _described(columns: dict[str, str]) -> str:
    """`a, b: standardize; c: log` — the columns grouped by preprocessing."""
    groups: dict[str, list[str]] = {}
    for name, how in columns.items():
        groups.setdefault(how, []).append(name)
    return "; ".join(f"{', '.join(names)}: {how}" for how, names in groups.items())


def _ranges(names: list[str]) -> str:
    """`timbre_0..timbre_11` for a numbered run, so the dropped line stays one readable line."""
    runs: dict[str, list[str]] = {}
    for name in names:
        runs.setdefault(re.sub(r"_\d+$", "", name), []).append(name)
    return ", ".join(group[0] if len(group) == 1 else f"{group[0]}..{group[-1]}" for group in runs.values())

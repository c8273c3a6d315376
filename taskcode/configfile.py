"""The config file itself: where it is, its YAML, the folder its relative paths start from.

`taskcode.config` reads the settings out of what these return.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from taskcode.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def environment(env: Mapping[str, str] | None) -> dict[str, str]:
    """The process environment, with the non-empty entries of `env` winning."""
    return {**os.environ, **{name: value for name, value in (env or {}).items() if value}}


def default_config_path(env: Mapping[str, str] | None = None) -> Path | None:
    """TASKCODE_CONFIG, else config/config.yml in the working or project folder."""
    explicit = environment(env).get("TASKCODE_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"config: TASKCODE_CONFIG points to {path}, which does not exist; fix the path or unset TASKCODE_CONFIG"
            )
        return path
    for base in (Path.cwd(), PROJECT_ROOT):
        candidate = base / "config" / "config.yml"
        if candidate.is_file():
            return candidate
    return None


def read_yaml(config_path: Path) -> Any:
    try:
        return yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"config: {config_path} is not valid YAML{where}: {problem}") from None
    except OSError as exc:
        raise ConfigError(f"config: cannot read {config_path}: {exc.strerror}") from None


def base_dir(config_path: Path | None) -> Path:
    """Relative paths in config/config.yml are relative to the project folder."""
    if config_path is None:
        return Path.cwd()
    folder = config_path.resolve().parent
    return folder.parent if folder.name == "config" else folder

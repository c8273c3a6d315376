"""Fixtures that put the emulator, the settings and the database together."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from taskcode import db, sync
from taskcode.authorize import authorize
from taskcode.config import Settings, load_settings

if TYPE_CHECKING:
    from emulator import Emulator

FAST_RETRIES = """
spotify:
  backoff_initial_seconds: 0.05
  backoff_max_seconds: 0.2
"""
# An extended-quota app may ask Spotify's /audio-features first; every other app must not ask it at all.
SPOTIFY_FIRST = ("spotify", "reccobeats", "csv")


def with_sources(settings, sources=SPOTIFY_FIRST):
    """The same settings with another `features.sources` order."""
    return dataclasses.replace(settings, features=dataclasses.replace(settings.features, sources=tuple(sources)))


@dataclasses.dataclass(frozen=True)
class World:
    """What a test of the product against the emulator works with."""

    settings: Settings
    conn: object  # an open, migrated psycopg2 connection
    emulator: Emulator
    config: Path  # the config file the settings came from
    exports: dict[str, Path] | None = None  # each person's data export, where a fixture wrote them


@pytest.fixture
def emulator_settings(emulator, sample_library, database_url, write_config, monkeypatch, tmp_path):
    """Settings aimed at the emulator, the library's catalog file and a fresh database; nobody authorized yet."""
    catalog = tmp_path / "catalog.csv"
    sample_library.write_catalog(catalog)
    path = write_config(FAST_RETRIES + f"paths:\n  catalog_csv: {catalog}\n")
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TASKCODE_CONFIG", str(path))
    settings = load_settings()
    conn = db.open_migrated(settings)
    yield World(settings, conn, emulator, path)
    conn.close()


@pytest.fixture
def authorized(emulator_settings, sample_library):
    """Every person of the library authorized with their refresh token."""
    for person in sample_library.people:
        authorize(
            emulator_settings.settings,
            emulator_settings.conn,
            person.name,
            refresh_token=emulator_settings.emulator.refresh_token(person.name),
        )
    emulator_settings.emulator.clear_requests()
    return emulator_settings


@pytest.fixture
def synced(authorized):
    """Authorized and synced once (likes and features)."""
    sync.run(authorized.settings, authorized.conn)
    return authorized


SMALL_MODEL = """
model:
  hidden_layers: [16, 8]
  epochs: 30
  patience: 3
map:
  n_iter: 250
"""


@pytest.fixture
def three_people(emulator_settings, write_config):
    """alice and bob authorized with the emulator, carol not (she comes by her data export); a small model."""
    from emulator.sample import write_exports

    write_config(emulator_settings.config.read_text() + SMALL_MODEL)
    settings = load_settings()
    emu, conn = emulator_settings.emulator, emulator_settings.conn
    for name in ("alice", "bob"):
        authorize(settings, conn, name, refresh_token=emu.refresh_token(name))
    exports = write_exports(emu.library, emulator_settings.config.parent.parent / "exports")
    return dataclasses.replace(emulator_settings, settings=settings, exports=exports)

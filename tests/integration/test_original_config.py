"""The original project's config.yml, as it is, trains a version on a real PostgreSQL."""

import dataclasses

import pytest

from emulator import generate
from emulator.database import load_into_database
from taskcode import db, train
from taskcode.config import PROJECT_ROOT, load_settings

pytestmark = pytest.mark.slow

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "original-config.yml"


def _library_of(names, tracks, seed):
    """A sample library whose people carry the config's user names."""
    library = generate(people=len(names), tracks=tracks, seed=seed)
    rename = dict(zip((person.name for person in library.people), names, strict=True))
    library.people = [dataclasses.replace(person, name=rename[person.name]) for person in library.people]
    library.likes = [dataclasses.replace(like, person=rename[like.person]) for like in library.likes]
    return library


def test_the_original_config_trains_with_its_own_settings(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TASKCODE_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings(FIXTURE)
    users = [person.name for person in settings.users]
    conn = db.open_migrated(settings)
    try:
        load_into_database(conn, _library_of(users, tracks=300, seed=11))
        result = train.train(settings, conn)
    finally:
        conn.close()
    assert result.version is not None, result.message
    metrics = result.metrics
    print(
        f"\noriginal config: F1 {metrics['f1']:.3f}, {metrics['epochs']} epochs in {metrics['training_seconds']:.1f} s"
    )
    assert set(metrics["counts"]["per_person"]) == {"paulo", "amelia"}
    assert metrics["batch_size"] <= settings.model.batch_size and 1 <= metrics["epochs"] <= 100
    assert metrics["f1"] > metrics["majority_f1"]

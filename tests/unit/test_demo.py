"""`make demo` (scripts/demo.py): a run that fails must not use up a night."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

DEAD_DATABASE = "postgresql://nobody@127.0.0.1:1/nothing"  # port 1: nobody listens


def _demo(data_dir):
    env = {**os.environ, "TASKCODE_DATA_DIR": str(data_dir), "DATABASE_URL": DEAD_DATABASE}
    return subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_night_that_cannot_reach_the_database_is_not_used_up(tmp_path):
    first = _demo(tmp_path)
    assert first.returncode == 3, first.stderr
    library = tmp_path / "demo" / "library.json"
    written = library.read_bytes()  # the first night writes the library before it needs the database

    second = _demo(tmp_path)
    assert second.returncode == 3, second.stderr
    [message] = [line for line in second.stderr.splitlines() if line.strip()]  # one line, no traceback
    assert message.startswith("error: cannot connect to PostgreSQL at 127.0.0.1:1/nothing")
    assert "next night" not in second.stdout
    assert library.read_bytes() == written  # tonight's new likes wait for a night that runs


def test_the_decision_is_followed_by_what_artists_add(settings, conn, monkeypatch):
    """The line after the gate's: the champion's F1 beside its audio-only baseline's, from the registry."""
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "scripts"))
    import demo

    assert demo.artists_line(settings) == "artists add: no champion yet"
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO model_versions (status, people, config, data_fingerprint, metrics, baselines, artifact)
               VALUES ('champion', '{alice,bob}', '{}', 'f', %s, %s, '\\x00') RETURNING version""",
            (json.dumps({"f1": 0.9722}), json.dumps({"audio_only_mlp": {"f1": 0.7633}, "sklearn_mlp": {"f1": 0.95}})),
        )
        version = cur.fetchone()[0]
    conn.commit()
    assert demo.artists_line(settings) == (
        f"artists add: keras MLP 0.972 vs audio-only MLP 0.763 (+0.209), champion version {version}"
    )

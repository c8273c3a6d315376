"""`make demo` (scripts/demo.py): a run that fails must not use up a night."""

from __future__ import annotations

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

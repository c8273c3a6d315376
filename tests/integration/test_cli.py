"""The command line against a real database: --config after the command, a closed pipe ends quietly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT, run_cli


def test_status_reads_the_config_given_after_the_command(settings, monkeypatch, write_config):
    path = write_config("")
    monkeypatch.delenv("TASKCODE_CONFIG")
    result = run_cli("status", "--json", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tracks"] == 0


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "taskcode", *args]


def test_a_reader_that_is_gone_ends_the_command_quietly(settings):
    """The pipe's only reader closes before a byte is written: the write fails, the command exits 0."""
    child = subprocess.Popen(
        _command("status"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
        env=os.environ,
    )
    child.stdout.close()
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_status_and_model_list_through_head(settings):
    for args in (("status",), ("model", "list")):
        line = " ".join(_command(*args)) + " | head -1"
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env=os.environ,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert len(result.stdout.splitlines()) == 1
        assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr

"""The command line itself: --version, --help in pipeline order, --config on either side, the emulator's door."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

import taskcode
from taskcode.cli import build_parser
from tests.conftest import run_cli

PIPELINE_ORDER = [
    "db",
    "authorize",
    "import",
    "person",
    "sync",
    "features",
    "train",
    "embed",
    "predict",
    "discover",
    "playlists",
    "model",
    "status",
    "emulator",
    "sample-library",
]


def test_version_is_the_package_version():
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"taskcode {taskcode.__version__}"
    assert taskcode.__version__ == importlib.metadata.version("taskcode")


def test_help_lists_the_commands_in_pipeline_order():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split("COMMAND\n", 1)[1].split("\noptions:", 1)[0]
    names = [line.split()[0] for line in listing.splitlines() if line.startswith("    ") and line[4] != " "]
    assert names == PIPELINE_ORDER


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "mine.yml", "status"],
        ["status", "--config", "mine.yml"],
        ["status", "--json", "--config", "mine.yml"],
        ["db", "migrate", "--config", "mine.yml"],
        ["model", "--config", "mine.yml", "list"],
    ],
)
def test_config_is_accepted_before_and_after_the_command(argv):
    assert build_parser().parse_args(argv).config == "mine.yml"


def test_config_after_the_command_is_the_config_read(write_config):
    path = write_config("model:\n  hidden_layers: []\n")
    result = run_cli("db", "migrate", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: config: 'model.hidden_layers' must be a non-empty list")
    assert result.stderr.count("\n") == 1


def test_unknown_options_are_still_refused():
    result = run_cli("status", "--no-such-option")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr


@pytest.mark.parametrize("command", ["emulator", "sample-library"])
def test_the_emulator_commands_say_where_the_tool_is_when_it_is_not_here(command, tmp_path):
    """Outside a checkout (no `emulator` package to import), one line and exit 2."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    code = f"import sys; from taskcode.cli import main; sys.exit(main([{command!r}, '--help']))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: the emulator is a development tool, not installed here; run it from a checkout: python -m emulator …\n"
    )
    assert result.stdout == ""

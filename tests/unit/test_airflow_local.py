"""`make airflow` and `make airflow-cli`: what can be checked without starting Airflow."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pytest

from scripts.airflow_dev import check_ports_free, write_env_file
from taskcode.errors import TaskcodeError
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def busy_port():
    """A port someone else listens on, as a leftover emulator would."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def local_env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SPOTIFY_"))}
    return {**env, "TASKCODE_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": "postgresql://u@127.0.0.1:1/x", **extra}


def test_a_busy_port_is_named_in_one_line(busy_port):
    with pytest.raises(TaskcodeError) as caught:
        check_ports_free({"AIRFLOW_PORT": busy_port})
    assert str(caught.value) == (
        f"port {busy_port} (AIRFLOW_PORT) is in use by another program: "
        "stop it, or choose another with AIRFLOW_PORT=PORT"
    )


def test_make_airflow_names_a_busy_emulator_port_before_starting_anything(busy_port, tmp_path):
    """A leftover emulator on the port must not turn into "Spotify refuses the app credentials"."""
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "airflow_local.py")],
        env=local_env(tmp_path, EMULATOR_PORT=str(busy_port), AIRFLOW_PORT=str(busy_port + 1)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: port {busy_port} (EMULATOR_PORT) is in use by another program: "
        "stop it, or choose another with EMULATOR_PORT=PORT"
    ]
    assert not (tmp_path / "data" / "demo").exists()


def test_the_env_file_is_private_and_a_shell_gets_the_same_values(tmp_path):
    env = {"AIRFLOW_HOME": "/a b", "DATABASE_URL": "postgresql://u:p'w\"@h/d", "HOME": "/elsewhere", "X": "y"}
    path = write_env_file(env, tmp_path / "env.sh")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    shown = subprocess.run(
        [
            "sh",
            "-c",
            '. "$1" && printf "%s|%s|%s|%s" "$AIRFLOW_HOME" "$DATABASE_URL" "${X:-unset}" "$PATH"',
            "sh",
            path,
        ],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("|")
    assert shown[:3] == ["/a b", "postgresql://u:p'w\"@h/d", "unset"]
    assert shown[3] == f"{os.path.dirname(sys.executable)}:/usr/bin:/bin"


def test_make_airflow_cli_runs_airflow_with_the_local_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "airflow_local.py"), "cli", "config", "get-value", "core"]
        + ["dags_folder"],
        env=local_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.strip() == str(PROJECT_ROOT / "dags")

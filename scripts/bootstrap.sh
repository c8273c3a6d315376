#!/usr/bin/env bash
# Create .venv and install the pinned requirements (with the test tools of
# requirements-dev.txt) and the project, only when
# something changed. Every Makefile target starts here, so each one works as
# the first command on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "error: Python 3.11 not found; install python3.11 (with venv) and try again" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)'; then
  echo "error: $PYTHON is $("$PYTHON" -V 2>&1); this project needs Python 3.11 or 3.12 (TensorFlow and Airflow pins)" >&2
  exit 1
fi

stamp=.venv/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt requirements.txt ] && [ "$stamp" -nt requirements-dev.txt ] \
   && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
echo "installing pinned requirements into .venv (first time: a few minutes)"
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
.venv/bin/python -m pip check
touch "$stamp"

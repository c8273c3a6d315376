#!/bin/bash
# As the official image's /entrypoint: `bash`/`python` run as given, anything else is `airflow ARGS`.
set -e
case "${1:-}" in
  bash|python|python3|/*) exec "$@" ;;
esac
exec airflow "$@"

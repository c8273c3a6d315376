# The two commands of the README: `make demo` and `make test`.
# Every target creates .venv and installs what is missing first.
.DEFAULT_GOAL := help
PY := .venv/bin/python

.PHONY: help setup demo test lint format test-fast test-deploy status dashboard airflow airflow-cli bench db-stop clean

help:
	@echo "make demo       run the pipeline on the embedded default (local PostgreSQL, emulator, sample library)"
	@echo "make test       ruff, then the whole test suite (real PostgreSQL, emulator over HTTP, Airflow, browser)"
	@echo "make test-deploy  docker-compose.yml in real containers: LocalExecutor, then Celery on two workers"
	@echo "make format     let ruff fix what it can and format the code"
	@echo "make status     print the status of the embedded default"
	@echo "make dashboard  serve the dashboard on http://127.0.0.1:8501, or PORT=... (embedded default database)"
	@echo "make airflow    a local Airflow with the DAGs (UI on http://127.0.0.1:8080); Ctrl-C stops it"
	@echo "make airflow-cli ARGS=\"dags trigger taste_nightly\"   the airflow CLI of that local Airflow"
	@echo "make bench      every benchmark (about 11 min on 2 cores): one table, bench/results/latest.json"
	@echo "make db-stop    stop the embedded local PostgreSQL"

setup:
	@scripts/bootstrap.sh
	@scripts/ensure-postgres.sh

# The nightly Airflow DAG once, end to end, on the embedded default; run it again for "the next night".
demo: setup
	$(PY) scripts/demo.py

# A local Airflow (standalone): UI on http://127.0.0.1:$${AIRFLOW_PORT:-8080}, metadata in the local PostgreSQL.
airflow: setup
	$(PY) scripts/airflow_local.py

# The airflow CLI with that Airflow's settings, e.g. make airflow-cli ARGS="dags trigger taste_nightly".
airflow-cli: setup
	@$(PY) scripts/airflow_local.py cli $(ARGS)

test: setup lint
	@scripts/ensure-chromium.sh
	$(PY) -m pytest

# The linter and the formatter, as `make test` runs them (`make format` rewrites the files).
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

test-fast: setup
	$(PY) -m pytest -m "not slow"

# The compose deployment in real containers, on a private Docker engine (Debian's dockerd)
# that it starts and stops; stand-in base images from Debian's packages unless
# TASTE_DEPLOY_REAL_IMAGES=1; TASTE_DEPLOY_KEEP=1 keeps the engine's images for the next run.
test-deploy: setup
	@scripts/deploy/ensure-docker.sh
	$(PY) -m pytest -s -v -p no:cacheprovider tests/deploy/compose_stack.py

status: setup
	$(PY) -m taskcode status

# `python -m streamlit` (not the `streamlit` script) puts this folder first on
# sys.path, so the dashboard imports this checkout's taskcode.
# `make dashboard PORT=8600` serves it on another port.
PORT ?= 8501
dashboard: setup
	$(PY) -m streamlit run dashboards/app.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false --client.toolbarMode viewer

# The benchmarks of bench/ (never part of the tests): API calls, storage, training, map,
# nightly DAG, dashboard, memory; each also runs alone (.venv/bin/python bench/NAME.py).
bench: setup
	@scripts/ensure-chromium.sh
	$(PY) bench/run.py

db-stop: setup
	$(PY) -m taskcode db stop

clean:
	rm -rf .venv .pytest_cache

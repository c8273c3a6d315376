# The project on the official Airflow 3 image: the same image runs the Airflow
# services, the CLI (`python -m taskcode`) and the dashboard. It holds no
# secret: credentials come from the environment at run time. No test tools:
# requirements.txt only (requirements-dev.txt is for the checkout's .venv).
FROM apache/airflow:3.3.2-python3.11

USER root
# Logs, the simple auth manager's generated passwords and the catalog are volumes
# (docker-compose.yml); created here so that a new volume is owned by `airflow`.
RUN mkdir -p /opt/taste/data /opt/taste/catalog /opt/airflow/logs /opt/airflow/auth \
    && chown -R airflow:0 /opt/taste /opt/airflow/logs /opt/airflow/auth
# From here on the image's unprivileged `airflow` user (uid 50000), never root.
USER airflow
WORKDIR /opt/taste

COPY --chown=airflow:0 requirements.txt pyproject.toml README.md ./
# Behind a TLS-intercepting proxy, build with `--secret id=pip_ca,src=CA_BUNDLE`:
# pip trusts that bundle during these steps only and it never lands in a layer.
RUN --mount=type=secret,id=pip_ca,mode=0444 \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    pip install --no-cache-dir -r requirements.txt && pip check
COPY --chown=airflow:0 taskcode ./taskcode
COPY --chown=airflow:0 sql ./sql
COPY --chown=airflow:0 config ./config
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 plugins ./plugins
COPY --chown=airflow:0 dashboards ./dashboards
# Editable, so that taskcode finds sql/ and config/ beside it (its build backend comes from PyPI too).
RUN --mount=type=secret,id=pip_ca,mode=0444 \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    pip install --no-cache-dir --no-deps -e . && pip check

ENV TASKCODE_CONFIG=/opt/taste/config/config.yml \
    TASKCODE_DATA_DIR=/opt/taste/data \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/taste/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/taste/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

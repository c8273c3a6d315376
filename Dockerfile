# The project on the official Airflow 3 image: the same image runs the Airflow
# services, the CLI (`python -m taskcode`) and the dashboard. No secret is baked
# in: credentials come from the environment (.env) at run time.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/*
USER airflow

WORKDIR /opt/taste
COPY --chown=airflow:0 requirements.txt pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=airflow:0 . .
RUN pip install --no-cache-dir --no-deps -e .

ENV TASKCODE_CONFIG=/opt/taste/config/config.yml \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/taste/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/taste/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

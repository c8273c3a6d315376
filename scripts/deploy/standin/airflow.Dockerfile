# Stand-in for apache/airflow:3.3.2-python3.11, as far as the project's
# Dockerfile and docker-compose.yml rely on it: Debian bookworm's Python 3.11,
# a venv with pip on PATH owned by user `airflow` (uid 50000, gid 0, HOME
# /home/airflow), AIRFLOW_HOME /opt/airflow, curl for the health checks, and an
# entrypoint (dumb-init) that runs `airflow ARGS`. Unlike the official image it
# has no Airflow installed: the project's requirements.txt installs it.
ARG BASE
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv curl dumb-init procps \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 50000 --gid 0 --home-dir /home/airflow --create-home --shell /bin/bash airflow \
    && mkdir -p /opt/airflow && chown airflow:0 /opt/airflow \
    && su airflow -c 'python3.11 -m venv /home/airflow/.venv'
LABEL org.whose-song.standin=1 \
      org.whose-song.standin.of="apache/airflow:3.3.2-python3.11 stand-in: Debian bookworm Python 3.11, Airflow not preinstalled"
ENV AIRFLOW_HOME=/opt/airflow \
    PATH=/home/airflow/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1
COPY airflow-entrypoint.sh /entrypoint
USER airflow
WORKDIR /opt/airflow
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]
CMD []

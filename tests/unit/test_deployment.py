"""The Docker deployment, checked as data: no Docker engine runs on our machines."""

from __future__ import annotations

import re

import yaml

from tests.conftest import PROJECT_ROOT

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def test_the_compose_file_starts_every_service():
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert set(AIRFLOW) | {"dashboard"} <= set(SERVICES)
    assert [SERVICES[name]["command"] for name in AIRFLOW[1:]] == [
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
    ]
    for name in (*AIRFLOW, "postgres", "dashboard"):
        assert "profiles" not in SERVICES[name], f"{name} must start by default"


def test_scale_profile_adds_redis_and_celery_workers():
    assert SERVICES["redis"]["profiles"] == ["scale"]
    assert SERVICES["airflow-worker"]["profiles"] == ["scale"]
    assert SERVICES["airflow-worker"]["command"] == "celery worker"
    env = SERVICES["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")


def test_every_long_running_service_has_a_health_check():
    for name, service in SERVICES.items():
        if name in ("airflow-init", "cli"):
            continue
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")


def test_airflow_services_share_the_configuration_and_wait_for_init():
    for name in AIRFLOW:
        env = SERVICES[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
        assert SERVICES[name]["image"] == "whose-song:latest"
    for name in ("airflow-scheduler", "airflow-worker"):  # where tasks run
        assert SERVICES[name]["environment"]["AIRFLOW_CONN_TASTE_DB"].endswith("@postgres:5432/taste")
    # taskcode's own migrations need the app's database, not the embedded fallback.
    assert SERVICES["airflow-init"]["environment"]["DATABASE_URL"].endswith("@postgres:5432/taste")
    for name in AIRFLOW[1:] + ("dashboard",):
        assert SERVICES[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    init = " ".join(SERVICES["airflow-init"]["command"])
    for step in ("airflow db migrate", "python -m taskcode db migrate"):
        assert step in init
    assert "pools" not in init  # the DAG limits its own Spotify syncs: no pool to create


def test_dashboard_reads_with_a_read_only_role():
    url = SERVICES["dashboard"]["environment"]["DATABASE_URL"]
    assert url.startswith("postgresql://taste_dashboard:")
    init = (PROJECT_ROOT / "docker" / "postgres-init.sh").read_text()
    assert "default_transaction_read_only = on" in init
    grants = re.findall(r"GRANT (\w+)", init)
    assert set(grants) == {"CONNECT", "USAGE", "SELECT"}


def test_no_secret_is_written_into_the_deployment():
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if re.search(r"PASSWORD|SECRET|FERNET|JWT", key) and not key.endswith("_FILE"):
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*)?\}", value), f"{name}: {key} is not a ${{VAR}}"
            for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", value):
                assert re.fullmatch(r"\$\{\w+\}", password), f"{name}: {key} has a literal password"
            for field in re.findall(r'"password": "([^"]*)"', value):
                assert re.fullmatch(r"\$\{\w+\}", field), f"{name}: {key} has a literal password"
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        if re.match(r"^\w*(PASSWORD|SECRET|KEY)=", line):
            assert line.endswith("="), f".env.example carries a value: {line}"
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text().split()
    assert ".env" in (PROJECT_ROOT / ".dockerignore").read_text().split()
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert not re.search(r"(?i)(secret|password|token)\w*\s*=", dockerfile)


def test_image_runs_as_the_unprivileged_airflow_user_on_the_pinned_airflow():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.M)
    assert users[-1] == "airflow"
    pinned = re.search(r"^apache-airflow==(\S+)", (PROJECT_ROOT / "requirements.txt").read_text(), flags=re.M)
    assert f"FROM apache/airflow:{pinned.group(1)}-python3.11" in dockerfile
    volumes = set(COMPOSE["volumes"])
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source.startswith(".") or source in volumes, f"undeclared volume {source}"


def test_each_secret_only_where_it_is_used():
    for name, service in SERVICES.items():
        assert "env_file" not in service, f"{name} would get every secret of .env"
    spotify = {
        name for name, service in SERVICES.items() if "SPOTIFY_CLIENT_SECRET" in str(service.get("environment") or {})
    }
    assert spotify == {"airflow-scheduler", "airflow-worker", "cli"}
    dashboard = str(SERVICES["dashboard"]["environment"])
    assert "POSTGRES_PASSWORD" not in dashboard and "FERNET" not in dashboard
    assert "environment" not in SERVICES["redis"]


def test_state_kept_in_volumes_and_ports_on_loopback():
    env = SERVICES["airflow-apiserver"]["environment"]
    passwords = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    targets = [volume.split(":")[1] for volume in SERVICES["airflow-apiserver"]["volumes"]]
    assert any(passwords.startswith(target + "/") for target in targets)  # kept across restarts
    assert passwords in (PROJECT_ROOT / "README.md").read_text()
    for name in ("airflow-scheduler", "airflow-worker", "dashboard", "cli"):
        assert "catalog:/opt/taste/catalog" in SERVICES[name]["volumes"]
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert re.match(r"(127\.0\.0\.1|\$\{\w+:-127\.0\.0\.1\}):", port), f"{name} publishes {port}"
    assert SERVICES["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"
    assert SERVICES["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_production_image_has_no_test_tools_and_runs_celery():
    production = (PROJECT_ROOT / "requirements.txt").read_text()
    dev = (PROJECT_ROOT / "requirements-dev.txt").read_text()
    for tool in ("pytest", "playwright"):
        assert not re.search(rf"^{tool}\b", production, flags=re.MULTILINE)
        assert re.search(rf"^{tool}==", dev, flags=re.MULTILINE)
    assert "-r requirements.txt" in dev
    assert re.search(r"^apache-airflow-providers-celery==", production, flags=re.MULTILINE)
    assert re.search(r"^celery\[redis\]==5\.6\.", production, flags=re.MULTILINE)
    assert "requirements-dev.txt" in (PROJECT_ROOT / "scripts" / "bootstrap.sh").read_text()

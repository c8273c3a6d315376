"""The nightly DAG on a night without new likes, end to end through Airflow's `dag.test()`.

    .venv/bin/python bench/nightly.py

The real `taste_nightly` DAG (`scripts/airflow_dev.test_run`, as `make
demo` and the DAG tests run it), in its own process with a throwaway
AIRFLOW_HOME, against the emulator and the local PostgreSQL, on the class
database after its first night (see `classroom.py`: 20 people x 5,000 likes,
a champion and its map). Nobody liked anything new since, so the night
should cost one `/me/tracks` call per person and no call for features or
ReccoBeats' `/v1/track`, skip training (the `train` task returns None,
`evaluate_and_promote` is skipped, no new model version) and keep the map
as it is.

Timed: the `dag.test()` call (every task, in one process, as Airflow's
debug executor runs them); the process start (importing Airflow) is shown apart.
"""

from __future__ import annotations

import subprocess
import sys

import classroom
from harness import ROOT, Context, Row, child_env, main_for, next_night, run_stage, stage_failed

FEATURE_ENDPOINTS = ("audio_features", "reccobeats", "reccobeats_track")  # the emulator's endpoint keys

DAG_RUN = """
import json, time
from scripts.airflow_dev import test_run
started = time.perf_counter()
state, tasks = test_run("taste_nightly")
seconds = time.perf_counter() - started
print("BENCH-RESULT " + json.dumps({"seconds": seconds, "state": state, "tasks": tasks}, default=str))
"""


def measure(ctx: Context) -> list[Row]:
    import psycopg2

    night = classroom.prepare(ctx)
    emulator = night["emulator"]
    home = ctx.subfolder("airflow")
    env = {
        **night["env"],
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }
    migrate = subprocess.run([str(_airflow()), "db", "migrate"], env=child_env(env), capture_output=True, text=True)
    if migrate.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed: {migrate.stderr.strip()[-1000:]}")

    def versions() -> list:
        conn = psycopg2.connect(night["url"])
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT version, status FROM model_versions ORDER BY version")
                return cur.fetchall()
        finally:
            conn.close()

    before = versions()
    conn = psycopg2.connect(night["url"])
    try:
        next_night(conn, emulator)
    finally:
        conn.close()
    run = run_stage(DAG_RUN, env)
    if run.returncode != 0 or not run.output:
        raise stage_failed(run, "the nightly DAG run")
    tasks = {name: (state, value) for name, state, value in run.output["tasks"]}
    calls = {}
    for entry in emulator.requests():
        calls[entry["endpoint"]] = calls.get(entry["endpoint"], 0) + 1
    after = versions()
    skipped = tasks["train"] == ("success", None) and tasks["evaluate_and_promote"][0] == "skipped" and before == after
    details = {
        "dag_test_seconds": round(run.output["seconds"], 1),
        "process_seconds": round(run.seconds, 1),
        "state": run.output["state"],
        "train": tasks["train"],
        "evaluate_and_promote": tasks["evaluate_and_promote"][0],
        "embed": tasks.get("embed"),
        "model_versions_before": before,
        "model_versions_after": after,
        "api_calls": calls,
        "tasks": {name: state for name, (state, _) in tasks.items()},
    }
    seconds = run.output["seconds"]
    people = len(night["library"].people)
    ok = run.output["state"] == "success"
    # Features and what else a source is asked for a track (ReccoBeats' /v1/track: popularity, its own id).
    feature_calls = sum(calls.get(name, 0) for name in FEATURE_ENDPOINTS)
    quiet = calls.get("tracks") == people and not feature_calls
    return [
        Row(
            "nightly",
            f"nightly DAG, no new likes ({people} x 5,000), dag.test()",
            round(seconds, 1),
            "s",
            goal="<= 60 s",
            met=ok and seconds <= 60,
            details=details,
        ),
        Row(
            "nightly",
            "  training skipped: train task's value, the gate, model versions",
            None,
            goal="skipped",
            met=skipped,
            text=(f"{tasks['train'][1]}, {tasks['evaluate_and_promote'][0]}, {len(before)} -> {len(after)}"),
            details={
                "train": tasks["train"],
                "evaluate_and_promote": tasks["evaluate_and_promote"][0],
                "versions": after,
            },
        ),
        Row(
            "nightly",
            "  calls that night: /me/tracks, features and ReccoBeats' /v1/track (token refreshes apart)",
            None,
            goal=f"{people}, 0",
            met=quiet,
            text=f"{calls.get('tracks', 0)}, {feature_calls} ({calls.get('token', 0)} token)",
            details=calls,
        ),
    ]


def _airflow():
    from pathlib import Path

    return Path(sys.executable).with_name("airflow")


if __name__ == "__main__":
    main_for("nightly", measure)

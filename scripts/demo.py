"""`make demo`: the nightly Airflow DAG, end to end, on the embedded default.

No Spotify account and no Docker: the project's own PostgreSQL (under
`data/`), the Spotify emulator serving a synthetic sample library, and one
run of the `taste_nightly` DAG through Airflow (`dag.test()`), with Airflow's
metadata in the same local PostgreSQL. Run it again and it plays "the next
night": each person likes a few new songs, and the DAG syncs just those,
retrains, and places them into the map.

The emulator answers like a Spotify app created in 2026: `/audio-features`
is refused (403), so features come from the ReccoBeats-shaped fallback and
the catalog file, as they would for a new real app.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))  # the checkout itself: development tools that are not installed

from airflow_dev import local_environment  # noqa: E402 - beside this script

from emulator import Emulator, Library, generate  # noqa: E402
from taskcode import db, registry  # noqa: E402
from taskcode.authorize import authorize  # noqa: E402
from taskcode.cli import main as taskcode_cli  # noqa: E402
from taskcode.config import load_settings  # noqa: E402
from taskcode.errors import TaskcodeError  # noqa: E402
from taskcode.log import setup_logging  # noqa: E402

NEW_LIKES_PER_NIGHT = 5


def main() -> int:
    settings = load_settings()
    setup_logging("WARNING")
    demo_dir = settings.paths.data_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    library_path, catalog_path = demo_dir / "library.json", demo_dir / "catalog.csv"

    first_night = not library_path.exists()
    if first_night:
        library = generate(people=2, tracks=1000, overlap=0.1, seed=7, catalog_extra=2000)
        library.save(library_path)
        library.write_catalog(catalog_path)
        print(
            f"demo: wrote a sample library ({len(library.likes)} likes of {len(library.people)} people) "
            f"and a catalog to {demo_dir}"
        )
    library = Library.load(library_path)

    with Emulator(library) as emulator:
        env = {
            **emulator.env(),
            "TASKCODE_CATALOG_CSV": str(catalog_path),
            "TASKCODE_CONFIG": str(_with_playlists(settings, library, demo_dir / "config.yml")),
        }
        os.environ.update(env)
        settings = load_settings()
        with db.migrated(settings) as conn:
            for person in library.people:
                authorize(settings, conn, person.name, refresh_token=emulator.refresh_token(person.name))
        # Only now that the database answers: a run that fails before this point
        # must not use up a night (tonight's likes are saved for tomorrow's emulator).
        if not first_night:
            for person in library.people:
                for _ in range(NEW_LIKES_PER_NIGHT):
                    emulator.add_like(person.name)
            library.save(library_path)  # tomorrow's emulator remembers tonight's likes
            print(f"demo: the next night: each person liked {NEW_LIKES_PER_NIGHT} new songs")
        airflow_env = local_environment(settings)
        print("demo: running the taste_nightly DAG through Airflow (a minute or two the first time)")
        code = _run_dag(airflow_env, demo_dir / "airflow-run.log")
        library.save(library_path)  # the playlists written tonight are in "Spotify" tomorrow too
        made = ", ".join(f"{name} {len(lists)}" for name, lists in emulator.playlists_of().items())
    print(f"demo: playlists in the emulator's Spotify: {made}")
    if code != 0:
        return code
    print()
    taskcode_cli(["status", "--json"])
    print("\nThe dashboard: make dashboard, then open http://127.0.0.1:8501")
    print("Run `make demo` again for the next night; `make airflow` for the Airflow UI.")
    return 0


def _with_playlists(settings, library, path: Path) -> Path:
    """Your config, with playlists turned on for everyone and a shared one (the demo opts in)."""
    raw = yaml.safe_load(settings.config_path.read_text(encoding="utf-8")) if settings.config_path else None
    raw = raw or {}
    raw["paths"] = {**(raw.get("paths") or {}), "data_dir": str(settings.paths.data_dir)}
    names = [person.name for person in library.people]
    raw["playlists"] = {"people": names, "shared_owner": names[0], "songs": 30}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


_RUNNER = """
import json, sys
from scripts.airflow_dev import test_run
state, tasks = test_run("taste_nightly")
print("DEMO-RESULT " + json.dumps({"state": state, "tasks": tasks}, default=str))
"""


def _run_dag(env: dict, log_path: Path) -> int:
    airflow = Path(sys.executable).with_name("airflow")
    with open(log_path, "w") as log:
        migrate = subprocess.run([str(airflow), "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT)
        if migrate.returncode != 0:
            print(f"demo: airflow db migrate failed; see {log_path}", file=sys.stderr)
            return 1
        run = subprocess.run([sys.executable, "-c", _RUNNER], env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    result_lines = [line for line in run.stdout.splitlines() if line.startswith("DEMO-RESULT ")]
    if run.returncode != 0 or not result_lines:
        print(f"demo: the DAG run did not finish; the Airflow log is in {log_path}", file=sys.stderr)
        return 1
    result = json.loads(result_lines[-1].split(" ", 1)[1])
    for task, state, value in result["tasks"]:
        print(f"  {task:<22} {state:<9} {_short(value)}")
        if task == "evaluate_and_promote":
            if isinstance(value, dict) and value.get("decision"):  # whole: it carries the gate's interval
                print(f"  decision: {value['decision']}")
            print(f"  {artists_line(load_settings())}")
    print(f"demo: DAG run {result['state']} (Airflow log: {log_path})")
    return 0 if result["state"] == "success" else 1


def artists_line(settings) -> str:
    """What artists add: the champion's F1 beside its audio-only baseline's, as the registry stored them."""
    with db.connection(settings) as conn:
        champion = registry.champion(conn)
    if champion is None:
        return "artists add: no champion yet"
    audio = champion.baselines.get("audio_only_mlp")
    if audio is None:
        return f"artists add: version {champion.version} has no audio-only baseline (model.signals)"
    f1, audio_f1 = champion.metrics["f1"], audio["f1"]
    return (
        f"artists add: keras MLP {f1:.3f} vs audio-only MLP {audio_f1:.3f} ({f1 - audio_f1:+.3f}), "
        f"champion version {champion.version}"
    )


def _short(value) -> str:
    text = json.dumps(value, default=str) if value is not None else ""
    return text if len(text) <= 90 else text[:87] + "..."


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TaskcodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)

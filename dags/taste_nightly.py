"""
### Whose song is it? — the nightly run

Every night: each person's new liked songs (one mapped `sync` task per person,
at most two at once across all runs: Spotify limits the app, not the person), audio features
for the new tracks, a new model trained only when the data changed, kept only
if its F1 beats the champion's on the same held-out songs, and the champion's
map with tonight's new songs placed into it, and the playlists the config opts in to
written back to Spotify.

**Trigger it by hand** (Airflow UI → Trigger, or
`airflow dags trigger taste_nightly --conf '{"force_retrain": true}'`):

- `people`: only these people (empty: everyone who has authorized);
- `full_resync`: page every liked song and mark the ones gone from Spotify as removed;
- `force_retrain`: train even when nothing changed;
- `fresh_map`: draw the champion's map anew.

A full rebuild (the manual backfill) is all three switches at once:
`airflow dags trigger taste_nightly --conf '{"full_resync": true, "force_retrain": true, "fresh_map": true}'`.

`airflow backfill create` runs several runs at once (its `--max-active-runs`, default 10);
every task but `sync` runs one at a time across runs, and `--max-active-runs 1` makes the runs follow
one another.

All logic lives in `taskcode` (see `taskcode/pipeline.py`); this file only wires it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from taskcode import pipeline  # light: the heavy libraries load inside the steps that need them
from taste_airflow import (
    DAGRUN_TIMEOUT,
    DEFAULT_ARGS,
    SPOTIFY_SYNCS_AT_ONCE,
    nightly_schedule,
    run_step,
)


@dag(
    dag_id="taste_nightly",
    doc_md=__doc__,
    schedule=nightly_schedule(),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAGRUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["taste", "spotify", "nightly"],
    params={
        "people": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Only these people (empty: everyone who has authorized).",
        ),
        "full_resync": Param(
            False, type="boolean", description="Page every liked song; mark likes gone from Spotify as removed."
        ),
        "force_retrain": Param(False, type="boolean", description="Train even when nothing changed."),
        "fresh_map": Param(
            False, type="boolean", description="Draw the champion's map anew instead of placing new songs into it."
        ),
    },
)
def taste_nightly():
    @task
    def people(params=None) -> list[str]:
        return run_step(pipeline.people, params["people"])

    @task(max_active_tis_per_dag=SPOTIFY_SYNCS_AT_ONCE, map_index_template="{{ task.op_kwargs['name'] }}")
    def sync(name: str, params=None) -> dict:
        return run_step(pipeline.sync_person, name, full=params["full_resync"])

    @task(trigger_rule="all_done")
    def features() -> dict:
        return run_step(pipeline.features)

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def train(params=None) -> int | None:
        return run_step(pipeline.train, force=params["force_retrain"])

    @task
    def evaluate_and_promote(version: int) -> dict:
        return run_step(pipeline.evaluate_and_promote, version)

    @task(trigger_rule="none_failed")
    def embed(params=None) -> dict:
        return run_step(pipeline.embed, fresh=params["fresh_map"])

    @task(trigger_rule="none_failed")
    def discover() -> dict:
        return run_step(pipeline.discover)

    # none_failed: runs on a quiet night too (train short-circuited), not after a failed discover.
    # A person who must authorize again is named in the result; the task still succeeds.
    @task(trigger_rule="none_failed")
    def playlists() -> dict:
        return run_step(pipeline.playlists)

    synced = sync.expand(name=people())
    version = train()
    synced >> features() >> version
    evaluate_and_promote(version) >> embed() >> discover() >> playlists()


taste_nightly()

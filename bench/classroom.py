"""The class deployment's first night, each stage as its own process.

Several benchmarks need the same expensive thing: a database holding a
first night of the class library (20 people x 5,000 likes, 100k likes of
90k tracks) synced from the emulator, a trained champion and its 100k-point
map. This module makes it once per context, running `sync`, `train` (+ the
F1 gate) and `embed` each as a child process (as Airflow's workers would),
and keeps each child's wall time, its own timing of the part that matters
and its peak RSS. `memory.py`, `training.py`, `tsne.py` and `nightly.py`
read from it; the emulator keeps serving the library for the nights after.

The library is the CLI's `sample-library --people 20 --tracks 5000` (its
default feature coverage: some tracks are unknown to Spotify's
/audio-features and come from ReccoBeats or the catalog file).
"""

from __future__ import annotations

from harness import Context, StageRun, authorize_everyone, config_file, run_stage, stage_failed

SYNC = """
import json, time
from taskcode import db, sync
from taskcode.config import load_settings
settings = load_settings()
with db.connection(settings) as conn:
    started = time.perf_counter()
    summary = sync.run(settings, conn)
    seconds = time.perf_counter() - started
print("BENCH-RESULT " + json.dumps({"seconds": seconds, "calls": summary.api_calls,
      "new_likes": sum(p.new_likes for p in summary.people), "features": summary.features}))
"""

TRAIN = """
import json, time
from taskcode import db, promotion, train
from taskcode.config import load_settings
settings = load_settings()
with db.connection(settings) as conn:
    started = time.perf_counter()
    result = train.train(settings, conn)
    trained = time.perf_counter() - started
    decision = promotion.evaluate_and_promote(settings, conn, result.version)
    seconds = time.perf_counter() - started
m = result.metrics
print("BENCH-RESULT " + json.dumps({"seconds": seconds, "train_seconds": trained,
      "fit_seconds": m["training_seconds"], "epochs": m["epochs"], "batch_size": m["batch_size"],
      "f1": m["f1"], "counts": m["counts"],
      "promoted": decision.promoted, "version": result.version}))
"""

EMBED = """
import json, time
from taskcode import db, embed
from taskcode.config import load_settings
timings = {}
def timed(name, function):
    def run(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            timings[name] = timings.get(name, 0) + time.perf_counter() - started
    return run
embed.fit_map = timed("fit_map", embed.fit_map)
embed.place_new = timed("place_new", embed.place_new)
embed._write = timed("write", embed._write)
settings = load_settings()
with db.connection(settings) as conn:
    started = time.perf_counter()
    result = embed.embed(settings, conn, fresh=FRESH)
    seconds = time.perf_counter() - started
print("BENCH-RESULT " + json.dumps({"seconds": seconds, **timings, **result.as_dict()}))
"""


def prepare(ctx: Context) -> dict:
    """The class database after its first night (made once per context); see the module docstring."""
    if "classroom" in ctx.cache:
        return ctx.cache["classroom"]
    from emulator import Emulator, Library
    from taskcode import db
    from taskcode.config import load_settings

    library_path = ctx.class_library_path()
    library = Library.load(library_path)
    folder = ctx.subfolder("classroom")
    catalog = folder / "catalog.csv"
    library.write_catalog(catalog)
    emulator = Emulator(library, people_per_app=None).start()  # 20 people: one app without the five-people limit
    ctx.on_close(emulator.stop)
    url = ctx.database("bench_class")
    env = {**emulator.env(), "DATABASE_URL": url, "TASKCODE_CONFIG": str(config_file(folder, catalog=catalog))}
    settings = load_settings(env=env)
    with db.connection(settings) as conn:
        authorize_everyone(settings, conn, emulator)

    runs: dict[str, StageRun] = {}
    for name, code in (("sync", SYNC), ("train", TRAIN), ("embed", EMBED.replace("FRESH", "True"))):
        runs[name] = run_stage(code, env)
        if runs[name].returncode != 0 or not runs[name].output:
            raise stage_failed(runs[name], f"the class night's {name}")
    ctx.cache["classroom"] = {
        "url": url,
        "env": env,
        "emulator": emulator,
        "library": library,
        "folder": folder,
        "catalog": catalog,
        "runs": runs,
    }
    return ctx.cache["classroom"]

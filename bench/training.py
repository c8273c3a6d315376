"""Training: seconds to train and evaluate a model, and what artists add to its macro-F1.

    .venv/bin/python bench/training.py

In one run, each training in its own process (the clock starts at
`train.train`, so it covers importing TensorFlow, which `train.fit` does,
loading the data, fitting the Keras MLP with early stopping, the baselines,
storing the version and the gate):

- the class (20 people x 5,000 likes, every signal on; its first night, see
  `classroom.py`), against its goal of 60 s;
- the demo's sample library (2 x 1,000, as `scripts/demo.py` makes it,
  written straight into the database with `load_into_database`), once with
  every signal on and once on the audio features alone;
- on that library, from the registry as `make demo` prints it: the macro-F1
  of the artist-aware network beside the audio-only baseline trained with it
  on the same split, and their difference (goal: at least +0.05).
"""

from __future__ import annotations

import classroom
from harness import Context, Row, config_file, main_for, run_stage, stage_failed

# The demo's library (scripts/demo.py): 2 people x 1,000 likes, a tenth shared, a catalog beside.
DEMO_LIBRARY = {"people": 2, "tracks": 1000, "overlap": 0.1, "seed": 7, "catalog_extra": 2000}
AUDIO_ONLY = "model:\n  signals: {audio: true, artists: false, metadata: false}\n"
MIN_ARTIST_GAIN = 0.05


def measure(ctx: Context) -> list[Row]:
    big = classroom.prepare(ctx)["runs"]["train"]
    demo = _demo_database(ctx)
    every, every_version = _train_small(ctx, demo, "every-signal", "")
    audio, _ = _train_small(ctx, demo, "audio-only", AUDIO_ONLY)
    f1, audio_f1 = every_version.metrics["f1"], every_version.baselines["audio_only_mlp"]["f1"]
    gain = f1 - audio_f1
    seconds = big.output["seconds"]
    return [
        Row(
            "training",
            "training + evaluation, 20 people x 5,000 likes, every signal on",
            round(seconds, 1),
            "s",
            goal="<= 60 s",
            met=seconds <= 60,
            details=_details(big),
        ),
        Row(
            "training",
            "training + evaluation, 2 x 1,000 (the demo's library), every signal on",
            round(every.output["seconds"], 1),
            "s",
            details=_details(every),
        ),
        Row(
            "training",
            "training + evaluation, 2 x 1,000, audio features only",
            round(audio.output["seconds"], 1),
            "s",
            details=_details(audio),
        ),
        Row(
            "training",
            "macro-F1, 2 x 1,000: artist-aware keras MLP vs audio-only MLP (same split)",
            round(gain, 3),
            text=f"{f1:.3f} vs {audio_f1:.3f} ({gain:+.3f})",
            goal=f">= +{MIN_ARTIST_GAIN:.2f}",
            met=gain >= MIN_ARTIST_GAIN,
            details={
                "keras_mlp_f1": round(f1, 4),
                "baselines_f1": {name: round(b["f1"], 4) for name, b in every_version.baselines.items()},
                "keras_mlp_audio_only_f1": round(audio.output["f1"], 4),
                "version": every_version.version,
            },
        ),
    ]


def _demo_database(ctx: Context) -> str:
    """A database holding the demo's library, as a first night would leave it; its name."""
    import psycopg2

    from emulator import generate
    from emulator.database import load_into_database

    name = "bench_train_demo"
    conn = psycopg2.connect(ctx.database(name))
    try:
        load_into_database(conn, generate(**DEMO_LIBRARY))
    finally:
        conn.close()
    return name


def _train_small(ctx: Context, source: str, name: str, config: str):
    """Train (and gate) on a copy of database `source` with `config`; the run and the registry's version."""
    import psycopg2

    from taskcode import registry

    url = ctx.copy_database(source, f"bench_train_{name.replace('-', '_')}")
    env = {"DATABASE_URL": url, "TASKCODE_CONFIG": str(config_file(ctx.subfolder(f"train-{name}"), config))}
    run = run_stage(classroom.TRAIN, env)
    if run.returncode != 0 or not run.output:
        raise stage_failed(run, f"training on 2 x 1,000 ({name})")
    conn = psycopg2.connect(url)
    try:
        return run, registry.get_version(conn, run.output["version"])
    finally:
        conn.close()


def _details(run) -> dict:
    out = run.output
    return {
        "seconds": round(out["seconds"], 1),
        "keras_fit_seconds": out["fit_seconds"],
        "epochs": out["epochs"],
        "f1": round(out["f1"], 3),
        "train_rows": out["counts"]["train"],
        "batch_size": out.get("batch_size"),
        "process_seconds": round(run.seconds, 1),
    }


if __name__ == "__main__":
    main_for("training", measure)

"""Training: seconds to train and evaluate a model (`train.train` + `promotion.evaluate_and_promote`).

    .venv/bin/python bench/training.py

Two sizes in one run, each in its own process (TensorFlow's import is not
counted: the clock starts at `train.train`): the class (20 people x 5,000
likes; its first night, see `classroom.py`) and a home (2 people x 1,000
likes, written straight into the database with `load_into_database`). The
time covers loading the data, fitting the Keras MLP with early stopping, the
two baselines (logistic regression, scikit-learn's MLP), storing the
version and the F1 gate.
"""

from __future__ import annotations

import classroom
from harness import Context, Row, config_file, main_for, run_stage, stage_failed


def measure(ctx: Context) -> list[Row]:
    import psycopg2

    from emulator import generate
    from emulator.database import load_into_database

    night = classroom.prepare(ctx)
    big = night["runs"]["train"]

    url = ctx.database("bench_train_small")
    conn = psycopg2.connect(url)
    try:
        load_into_database(conn, generate(people=2, tracks=1000, seed=7))
    finally:
        conn.close()
    env = {"DATABASE_URL": url, "TASKCODE_CONFIG": str(config_file(ctx.subfolder("train-small")))}
    small = run_stage(classroom.TRAIN, env)
    if small.returncode != 0 or not small.output:
        raise stage_failed(small, "training on 2 x 1,000")

    def details(run):
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

    seconds = big.output["seconds"]
    return [
        Row(
            "training",
            "training + evaluation, 20 people x 5,000 likes",
            round(seconds, 1),
            "s",
            goal="<= 60 s",
            met=seconds <= 60,
            details=details(big),
        ),
        Row(
            "training",
            "training + evaluation, 2 people x 1,000 likes",
            round(small.output["seconds"], 1),
            "s",
            details=details(small),
        ),
    ]


if __name__ == "__main__":
    main_for("training", measure)

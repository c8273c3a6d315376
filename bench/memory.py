"""Memory: peak RSS of sync, train and embed on the class library, each its own process.

    .venv/bin/python bench/memory.py

The class's first night (`classroom.py`: 20 people x 5,000 likes, 90k
tracks) runs `sync` (from the emulator over HTTP, then the features),
`train` (+ the F1 gate) and `embed` (a fresh map) each as a child process;
the figure is the kernel's high-water mark of that child's resident memory
(`ru_maxrss` from `wait4`), so one stage's memory never hides another's.
"""

from __future__ import annotations

import classroom
from harness import Context, Row, main_for


def measure(ctx: Context) -> list[Row]:
    night = classroom.prepare(ctx)
    rows = []
    for stage, what in (
        ("sync", "sync (likes + features)"),
        ("train", "train + evaluate"),
        ("embed", "embed (fresh map)"),
    ):
        run = night["runs"][stage]
        rows.append(
            Row(
                "memory",
                f"peak RSS, {what}, 100k likes",
                round(run.peak_rss_mb),
                "MB",
                details={"process_seconds": round(run.seconds, 1), **_short(run.output)},
            )
        )
    return rows


def _short(output: dict) -> dict:
    return {key: value for key, value in output.items() if not isinstance(value, dict) or key == "calls"}


if __name__ == "__main__":
    main_for("memory", measure)

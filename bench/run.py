"""Every benchmark in one run (`make bench`): one table, and bench/results/latest.json.

    .venv/bin/python bench/run.py [--only api storage ...] [--markdown]

All benchmarks share one throwaway PostgreSQL cluster and one class library
(20 people x 5,000 likes), whose first night (`classroom.py`) several of
them read. The machine is printed first: the figures mean little without it.
Never part of the test suite; nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from dataclasses import asdict

import api
import dashboard_map
import memory
import nightly
import storage
import training
import tsne
from harness import RESULTS, Context, Row, describe_machine, machine, markdown_table, print_rows

BENCHMARKS = {
    "api": api.measure,
    "storage": storage.measure,
    "training": training.measure,
    "map": tsne.measure,
    "nightly": nightly.measure,
    "dashboard": dashboard_map.measure,
    "memory": memory.measure,
}
SCRIPT_NAMES = {"tsne": "map", "dashboard_map": "dashboard"}  # bench/tsne.py measures "map", ...


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=list(BENCHMARKS) + list(SCRIPT_NAMES),
        help=f"run only these: {', '.join(BENCHMARKS)} (or the script's name: tsne, dashboard_map)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown (README)")
    args = parser.parse_args()
    only = {SCRIPT_NAMES.get(name, name) for name in args.only or ()}

    started = time.perf_counter()
    info = machine()
    print(f"machine: {describe_machine(info)}; load average {info['load_average']}", flush=True)
    rows: list[Row] = []
    timings, failures = {}, {}
    with Context() as ctx:
        library_seconds = None
        for name, measure in BENCHMARKS.items():
            if only and name not in only:
                continue
            print(f"-- {name} ...", flush=True)
            begun = time.perf_counter()
            try:
                found = measure(ctx)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                traceback.print_exc()
                failures[name] = f"{type(exc).__name__}: {exc}"
                found = [Row(name, f"{name}: failed ({type(exc).__name__})", None, met=False, text="error")]
            timings[name] = round(time.perf_counter() - begun, 1)
            print_rows(found)
            rows.extend(found)
            if library_seconds is None and "sample_library_seconds" in ctx.cache:
                library_seconds = ctx.cache["sample_library_seconds"]
        if library_seconds is not None:
            rows.append(
                Row(
                    "library",
                    "sample library 20 x 5,000 (CLI sample-library)",
                    round(library_seconds, 1),
                    "s",
                    details={"output": ctx.cache.get("sample_library_output")},
                )
            )
    total = time.perf_counter() - started

    print()
    print(f"machine: {describe_machine(info)}")
    print_rows(rows, f"make bench: {total / 60:.1f} min (goal: under 20 min)")
    missed = [r.measure.strip() for r in rows if r.met is False]
    print(
        f"goals met: {sum(r.met is True for r in rows)} of {sum(r.met is not None for r in rows)}"
        + (f"; missed: {'; '.join(missed)}" if missed else "")
    )
    if args.markdown:
        print()
        print(markdown_table(rows))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(
        json.dumps(
            {
                "machine": info,
                "total_seconds": round(total, 1),
                "seconds_per_benchmark": timings,
                "failures": failures,
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
            default=str,
        )
    )
    print(f"details: {RESULTS / 'latest.json'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

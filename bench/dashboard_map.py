"""How the dashboard's map copes with 100k songs: payload size and time to draw in Chromium.

    .venv/bin/python bench/dashboard_map.py [--sizes 1000 100000] [--skip-browser] [--warm 5] [--demo-only]

Two measurements, side by side in one run, printed as ratios:

1. Payload: bytes of the figure JSON per song, for the map as the dashboard
   builds it (float32 binary x/y, names and artists as one string each,
   percents as packed bytes, one hovertemplate per trace) against a naive
   figure (float64 lists, one preformatted hover string per song, owners and
   full-precision probabilities per song).
2. Browser: a throwaway PostgreSQL gets a complete map of N songs; the
   dashboard is served with `streamlit run` and opened in headless Debian
   chromium (software WebGL: no GPU here). The first load fills the
   server's cache; then the page is loaded `--warm` times more and each time
   we measure page load -> every song drawn on the WebGL canvas (plus two
   animation frames). The figure is the median of the warm loads (the
   fastest is shown too: on a shared machine, other processes only ever add
   time). The breakdown splits each load at the moment the figure's
   websocket frame has arrived: before it, the page starts and the server
   runs the script; after it, the browser parses the figure, Streamlit
   re-encodes it for its theme (JSON.stringify, 40 colour replaceAll passes
   over the whole string, JSON.parse) and Plotly draws it.

`--profile` adds one more warm load of the largest map under Chromium's
JavaScript CPU profiler and prints where the main thread's time went, per
script bundle (Plotly.js with Streamlit's chart wrapper, React, native work:
parsing, layout, WebGL in software) and per function.

Not a test: nothing here passes or fails on a threshold. Results also go to
bench/results/dashboard_map.json (git-ignored); `bench/run.py` shows the
100k figure against the goal (<= 3 s).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import psycopg2
from psycopg2.extras import execute_values

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboards" / "app.py"
sys.path[:0] = [str(ROOT), str(ROOT / "dashboards")]  # the emulator package and the dashboard's modules
import mapfigure  # noqa: E402  (the dashboard's own figure builder)
from harness import Context, Row, describe_machine, print_rows, save  # noqa: E402

from emulator import generate  # noqa: E402
from emulator.database import load_into_database  # noqa: E402
from taskcode import db  # noqa: E402
from taskcode.localpg import free_port  # noqa: E402
from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS, pick_point  # noqa: E402

PEOPLE = ["alice", "bob"]
COLOURS = {"alice": "#1f77b4", "bob": "#ff7f0e"}
GOAL_SECONDS = 3.0
# Drawn: Plotly has laid out every song trace (all N songs), and a WebGL map's canvas exists.
DRAWN = (
    "n => { const gd = document.querySelector('.js-plotly-plot');"
    " return gd && gd._fullData"
    " && (!gd._fullData.some(t => t.type === 'scattergl') || gd.querySelector('canvas.gl-canvas-context'))"
    " && gd._fullData.filter(t => t.type.startsWith('scatter') && t.name !== 'found')"
    ".reduce((s, t) => s + t._length, 0) === n; }"
)


# -- songs --------------------------------------------------------------------------------


def library_for(songs: int):
    """A sample library with `songs` distinct tracks, all with features (2 people, 10% shared)."""
    per_person = int(round(songs / 1.8))  # each person's 10% shared songs are the other's own
    return generate(people=2, tracks=per_person, seed=11, overlap=0.1, unknown_features=0.0, spotify_coverage=1.0)


def map_rows(library) -> pd.DataFrame:
    """Map points as the embed step would store them (x/y from a PCA of the features, stand-in model)."""
    tracks = [t for t in library.tracks.values() if t["known_by"]]
    owners = library.owners()
    names = ("danceability", "energy", "loudness", "speechiness", "acousticness", "valence", "tempo")
    X = np.array([[t["features"][n] for n in names] for t in tracks])
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    _, _, vt = np.linalg.svd(X[:5000], full_matrices=False)
    xy = X @ vt[:2].T * 10
    p_alice = 1 / (1 + np.exp(-2 * xy[:, 0] / 10))
    probabilities = np.column_stack([p_alice, 1 - p_alice])
    predicted = np.where(p_alice >= 0.5, "alice", "bob")
    rows = pd.DataFrame(
        {
            "track_id": [t["id"] for t in tracks],
            "name": [t["name"] for t in tracks],
            "artists": [", ".join(a["name"] for a in t["artists"]) for t in tracks],
            "x": xy[:, 0],
            "y": xy[:, 1],
            "probabilities": probabilities.tolist(),
            "owners": [sorted(owners.get(t["id"], ())) for t in tracks],
            "predicted": predicted,
            "confidence": probabilities.max(axis=1),
        }
    )
    rows["out_of_place"] = [bool(o) and p not in o for p, o in zip(rows["predicted"], rows["owners"])]
    rows["placed"] = "fit"
    rows["hidden"] = [[0.0] * 16] * len(rows)
    return rows


# -- 1. payload -----------------------------------------------------------------------------


def naive_figure(points: pd.DataFrame) -> go.Figure:
    """What a first attempt looks like: full floats, one hover string per song."""
    traces = []
    for person in PEOPLE:
        mine = points[points["owners"].map(lambda o, person=person: person in o)]
        hover = [
            f"Track: {n}<br>Artists: {a}<br>Owners: {', '.join(o)}<br>"
            + "<br>".join(f"{p}: {q}" for p, q in zip(PEOPLE, probs))
            for n, a, o, probs in zip(mine["name"], mine["artists"], mine["owners"], mine["probabilities"])
        ]
        traces.append(
            go.Scattergl(
                x=mine["x"].tolist(), y=mine["y"].tolist(), mode="markers", name=person, text=hover, hoverinfo="text"
            )
        )
    return go.Figure(traces)


def payload(points: pd.DataFrame) -> dict:
    started = time.perf_counter()
    lean, _ = mapfigure.build(points, PEOPLE, COLOURS)
    built = time.perf_counter() - started
    lean_bytes = len(pio.to_json(lean, validate=False).encode())
    naive_bytes = len(pio.to_json(naive_figure(points), validate=False).encode())
    return {
        "songs": len(points),
        "lean_bytes_per_song": lean_bytes / len(points),
        "naive_bytes_per_song": naive_bytes / len(points),
        "lean_over_naive": lean_bytes / naive_bytes,
        "build_seconds": built,
    }


# -- 2. browser -------------------------------------------------------------------------------


def fill_database(url: str, library, maps: list[pd.DataFrame]) -> dict[int, int]:
    """A version with a complete map of each of these points, the last the champion: {version: songs}."""
    conn = psycopg2.connect(url)
    try:
        db.migrate(conn)
        load_into_database(conn, library)
        statuses = ["retired"] * (len(maps) - 1) + ["champion"]
        return {_add_map(conn, points, status): len(points) for points, status in zip(maps, statuses)}
    finally:
        conn.close()


def _add_map(conn, points: pd.DataFrame, status: str) -> int:
    with db.transaction(conn) as cur:
        cur.execute(
            """INSERT INTO model_versions (status, people, config, data_fingerprint, metrics, artifact)
               VALUES (%s, %s, '{}', 'bench', '{"f1": 0.8}', '') RETURNING version""",
            (status, PEOPLE),
        )
        version = cur.fetchone()[0]
        cur.execute("INSERT INTO maps (model_version) VALUES (%s) RETURNING map_id", (version,))
        map_id = cur.fetchone()[0]
        execute_values(
            cur,
            """INSERT INTO map_points (map_id, track_id, x, y, hidden, probabilities, owners, predicted,
                                       out_of_place, confidence, placed, neighbours) VALUES %s""",
            [
                (
                    map_id,
                    r.track_id,
                    float(r.x),
                    float(r.y),
                    r.hidden,
                    r.probabilities,
                    r.owners,
                    r.predicted,
                    bool(r.out_of_place),
                    float(r.confidence),
                    r.placed,
                    getattr(r, "neighbours", []),
                )
                for r in points.itertuples()
            ],
            template="(%s, %s, %s, %s, %s::real[], %s::real[], %s::text[], %s, %s, %s, %s, %s::text[])",
            page_size=2000,
        )
        cur.execute("UPDATE maps SET complete = true WHERE map_id = %s", (map_id,))
    return version


def cpu_profile(page, base: str, songs: int) -> dict:
    """One warm load under the CPU profiler: milliseconds per script bundle (self) and per function (inclusive)."""

    def load():
        page.goto(base, timeout=300_000)
        page.wait_for_function(DRAWN, arg=songs, timeout=300_000, polling="raf")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    return profiled(page, load)


def profiled(page, run) -> dict:
    """`run()` under Chromium's CPU profiler: milliseconds per script bundle (self) and per function (inclusive)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 500})
    cdp.send("Profiler.start")
    run()
    profile = cdp.send("Profiler.stop")["profile"]
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", [])}

    def where(node_id):
        frame = nodes[node_id]["callFrame"]
        bundle = frame["url"].rsplit("/", 1)[-1].split(".")[0] or frame["functionName"]  # "(program)" etc.
        return (
            bundle,
            f"{frame['functionName'] or '(anonymous)'} {bundle}:{frame['lineNumber']}:{frame['columnNumber']}",
        )

    per_bundle, per_function = {}, {}
    for node_id, micros in zip(profile["samples"], profile["timeDeltas"]):
        bundle, _ = where(node_id)
        per_bundle[bundle] = per_bundle.get(bundle, 0) + micros / 1000
        seen, at = set(), node_id
        while at is not None:  # inclusive: every function on the stack, once
            _, function = where(at)
            if function not in seen and nodes[at]["callFrame"]["url"]:
                seen.add(function)
                per_function[function] = per_function.get(function, 0) + micros / 1000
            at = parent.get(at)
    top = lambda d, n: dict(sorted(((k, round(v)) for k, v in d.items()), key=lambda kv: -kv[1])[:n])  # noqa: E731
    return {
        "total_ms": round(sum(per_bundle.values())),
        "self_ms_per_bundle": top(per_bundle, 8),
        "inclusive_ms_per_function": top(per_function, 15),
    }


@contextlib.contextmanager
def served(url: str, log_path: Path):
    """`streamlit run` of the dashboard on DATABASE_URL=url, healthy; yields its base URL."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(APP),
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                try:
                    server.wait(timeout=0.1)
                    raise SystemExit(f"streamlit exited:\n{log_path.read_text()[-2000:]}")
                except subprocess.TimeoutExpired:
                    pass
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def time_in_browser(url: str, songs: int, log_path: Path, warm: int = 5, profile: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    with served(url, log_path) as base:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            received = []  # (seconds, bytes) of every websocket frame the page receives
            page.on(
                "websocket",
                lambda ws: ws.on(
                    "framereceived",
                    lambda frame: received.append(
                        (time.perf_counter(), len(frame) if isinstance(frame, (bytes, str)) else 0)
                    ),
                ),
            )
            runs = []
            for _ in range(1 + warm):  # the first also fills the server's cache; the rest are warm
                received.clear()
                started = time.perf_counter()
                page.goto(base, timeout=300_000)
                page.wait_for_function(DRAWN, arg=songs, timeout=300_000, polling="raf")
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                seconds = time.perf_counter() - started
                biggest = max(received, key=lambda frame: frame[1], default=(started, 0))
                runs.append(
                    {
                        "seconds": seconds,
                        "websocket_bytes": sum(n for _, n in received),
                        "figure_arrived": biggest[0] - started,
                        "figure_bytes": biggest[1],
                    }
                )
            profiled = cpu_profile(page, base, songs) if profile else None
            browser.close()
    warm_runs = runs[1:]
    median = statistics.median(r["seconds"] for r in warm_runs)
    typical = min(warm_runs, key=lambda r: abs(r["seconds"] - median))
    return {
        "songs": songs,
        "cold_seconds": runs[0]["seconds"],
        "warm_seconds": median,
        "warm_fastest": min(r["seconds"] for r in warm_runs),
        "warm_all": [round(r["seconds"], 2) for r in warm_runs],
        "figure_arrived_seconds": typical["figure_arrived"],
        "after_figure_seconds": typical["seconds"] - typical["figure_arrived"],
        "figure_bytes": typical["figure_bytes"],
        "websocket_bytes_per_song": typical["websocket_bytes"] / songs,
        "profile": profiled,
    }


IDLE = (
    "() => !document.querySelector('[data-testid^=\"stStatusWidgetRunning\"]')"
    " && !document.querySelector('[data-stale=\"true\"]')"
)
FOUND = (
    "() => { const gd = document.querySelector('.js-plotly-plot');"
    " return gd && gd._fullData && gd._fullData.some(t => t.name === 'found'); }"
)
UNFOUND = (
    "n => { const gd = document.querySelector('.js-plotly-plot');"
    " return gd && gd._fullData && !gd._fullData.some(t => t.name === 'found') && (" + DRAWN + ")(n); }"
)
PICKED = (
    "() => [...document.querySelectorAll('h3')].some(h => h.textContent.startsWith('Picked in the map (1)'))"
    " && document.querySelectorAll('[data-testid=\"stTable\"] tbody tr').length === 5"
)
INTERACTION_GOAL, PAGE_LOAD_GOAL = 0.5, 1.5


def _settled(page, condition: str, arg=None) -> None:
    page.wait_for_function(condition, arg=arg, timeout=120_000, polling="raf")
    page.wait_for_function(IDLE, timeout=120_000, polling="raf")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _timed(times: dict, name: str, page, action, condition: str, arg=None) -> None:
    """Seconds from the action until `condition` holds and the page has settled.

    An interaction's end state must not hold before it (else its time would be nothing); a page
    load replaces the page, so its old state does not count.
    """
    if name != "page load":
        assert not page.evaluate(condition, arg), f"{name}: the page shows the end state before the action"
    started = time.perf_counter()
    action()
    _settled(page, condition, arg)
    times.setdefault(name, []).append(time.perf_counter() - started)


def _choose(page, label: str, option: str) -> None:
    page.locator(f'[data-testid="stSelectbox"]:has-text("{label}")').first.click()
    page.get_by_role("option").filter(has_text=option).first.click()


def time_interactions(url: str, points: pd.DataFrame, sizes: dict[int, int], log_path: Path, rounds: int = 3) -> dict:
    """The demo's map in Chromium: page loads and every interaction, each until the page has settled again."""
    from playwright.sync_api import sync_playwright

    versions = sorted(sizes, reverse=True)  # the champion (the newest) first
    songs, name = len(points), points.sort_values("track_id")["name"].iloc[len(points) // 2]
    alone = int(points["owners"].map(lambda o: "alice" in o).sum())
    times: dict[str, list[float]] = {}
    with served(url, log_path) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base, timeout=300_000)
        _settled(page, DRAWN, songs)  # the first load fills the server's caches
        people = page.locator('[data-testid="stMultiSelect"] input').first
        search = page.get_by_label("Find a song or artist")
        for _ in range(rounds):
            _timed(times, "page load", page, lambda: page.goto(base), DRAWN, songs)
            _timed(times, "filter", page, lambda: (people.click(), page.keyboard.press("Backspace")), DRAWN, alone)
            page.keyboard.press("Escape")
            _timed(times, "filter", page, lambda: (people.fill("bob"), page.keyboard.press("Enter")), DRAWN, songs)
            page.keyboard.press("Escape")
            _timed(times, "search", page, lambda: (search.fill(name), search.press("Enter")), FOUND)
            _timed(times, "search", page, lambda: (search.fill(""), search.press("Enter")), UNFOUND, songs)
            _timed(times, "select", page, lambda: pick_point(page), PICKED)
            for version in (versions[1], versions[0]):
                _timed(
                    times,
                    "version switch",
                    page,
                    lambda v=version: _choose(page, "Model version", f"version {v} "),
                    DRAWN,
                    sizes[version],
                )
        browser.close()
    return {
        "songs": songs,
        "median_seconds": {name: statistics.median(values) for name, values in times.items()},
        "all_seconds": {name: [round(v, 3) for v in values] for name, values in times.items()},
    }


def measure(ctx: Context, sizes=(1000, 100_000), browser: bool = True, warm: int = 5) -> list[Row]:
    """The table rows (run.py): the warm time at the largest size against the goal, and the context."""
    results = run_sizes(ctx, sizes, browser, warm, profile=True)  # the profile goes into the JSON's details
    save("dashboard_map", table_rows(results, warm), results)
    return table_rows(results, warm)


def table_rows(results: dict, warm: int) -> list[Row]:
    rows = []
    if results["browser"]:
        large, small = results["browser"][-1], results["browser"][0]
        rows.append(
            Row(
                "dashboard",
                f"dashboard: map of {large['songs'] // 1000}k songs drawn, warm (median of {warm})",
                round(large["warm_seconds"], 2),
                "s",
                goal=f"<= {GOAL_SECONDS:g} s",
                met=large["warm_seconds"] <= GOAL_SECONDS,
                details=large,
            )
        )
        rows.append(
            Row(
                "dashboard",
                "  page start + server until the figure arrived / browser after it",
                None,
                text=f"{large['figure_arrived_seconds']:.1f} s / {large['after_figure_seconds']:.1f} s",
            )
        )
        rows.append(
            Row(
                "dashboard",
                f"  fastest warm load; same page with {small['songs']:,} songs (median)",
                None,
                text=f"{large['warm_fastest']:.1f} s; {small['warm_seconds']:.1f} s",
                details=small,
            )
        )
    if results.get("demo"):
        demo = results["demo"]
        for name, seconds in demo["median_seconds"].items():
            goal = PAGE_LOAD_GOAL if name == "page load" else INTERACTION_GOAL
            rows.append(
                Row(
                    "dashboard",
                    f"demo map ({demo['songs']:,} songs): {name}, median",
                    round(seconds, 2),
                    "s",
                    goal=f"<= {goal:g} s",
                    met=seconds <= goal,
                    details={"all_seconds": demo["all_seconds"][name]},
                )
            )
    if not results["payload"]:
        return rows
    payload = results["payload"][-1]
    rows.append(
        Row(
            "dashboard",
            f"  figure JSON per song (lean / naive), {payload['songs'] // 1000}k songs",
            None,
            text=f"{payload['lean_bytes_per_song']:.0f} B / {payload['naive_bytes_per_song']:.0f} B",
            details=payload,
        )
    )
    return rows


def demo_case(ctx: Context) -> dict:
    """The demo's map (2 people x 1,000 liked songs, two versions): page loads and interactions."""
    library = generate(people=2, tracks=1000, seed=11, overlap=0.1, unknown_features=0.0, spotify_coverage=1.0)
    points = map_rows(library)
    points["neighbours"] = nearest_on_map(points)
    url = ctx.database("bench_map_demo")
    older = points.iloc[: len(points) * 9 // 10]  # the first night knew fewer songs
    sizes = fill_database(url, library, [older, points])
    return time_interactions(url, points, sizes, ctx.folder / "streamlit-demo.log")


def nearest_on_map(points: pd.DataFrame, count: int = 5) -> list[list[str]]:
    """Each song's nearest songs on the map (a stand-in for the hidden space's): the page's 'why'."""
    xy = points[["x", "y"]].to_numpy()
    distances = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(distances, np.inf)
    ids = points["track_id"].to_numpy()
    return [list(ids[row]) for row in np.argsort(distances, axis=1)[:, :count]]


def run_sizes(ctx: Context, sizes, browser: bool, warm: int, profile: bool = False) -> dict:
    results = {"payload": [], "browser": [], "demo": demo_case(ctx) if browser else None}
    for size in sizes:
        library = library_for(size)
        points = map_rows(library)
        results["payload"].append(payload(points))
        if browser:
            url = ctx.database(f"bench_map_{size}")
            fill_database(url, library, [points])
            results["browser"].append(
                time_in_browser(
                    url,
                    len(points),
                    ctx.folder / f"streamlit-{size}.log",
                    warm=warm,
                    profile=profile and size == sizes[-1],
                )
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--demo-only", action="store_true", help="only the demo map's page loads and interactions")
    parser.add_argument("--warm", type=int, default=5, help="warm page loads per size (default 5)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile one more warm load of the largest map: where the browser's time goes",
    )
    args = parser.parse_args()

    print(f"machine: {describe_machine()}")
    with Context() as ctx:
        sizes = [] if args.demo_only else args.sizes
        results = run_sizes(ctx, sizes, not args.skip_browser, args.warm, args.profile)
        rows = table_rows(results, args.warm)

    print("payload (figure JSON the browser receives):")
    for row in results["payload"]:
        print(
            f"  {row['songs']:>7,} songs: {row['lean_bytes_per_song']:6.1f} B/song lean, "
            f"{row['naive_bytes_per_song']:6.1f} B/song naive -> lean/naive {row['lean_over_naive']:.2f}; "
            f"figure built in {row['build_seconds']:.2f} s"
        )
    if results["browser"]:
        print(f"browser (page load -> map drawn, headless chromium, software WebGL; warm = median of {args.warm}):")
        for row in results["browser"]:
            print(
                f"  {row['songs']:>7,} songs: cold {row['cold_seconds']:5.1f} s, warm {row['warm_seconds']:5.1f} s "
                f"(fastest {row['warm_fastest']:.1f} s; figure arrived after {row['figure_arrived_seconds']:.1f} s, "
                f"drawn {row['after_figure_seconds']:.1f} s later), "
                f"{row['websocket_bytes_per_song']:6.1f} B/song over the websocket"
            )
        small, large = results["browser"][0], results["browser"][-1]
        print(
            f"  ratio largest/smallest: {large['songs'] / small['songs']:.0f}x songs -> "
            f"{large['warm_seconds'] / small['warm_seconds']:.1f}x warm time"
        )
        profiled = large.get("profile")
        if profiled:
            print(
                f"  CPU profile of one more warm load, {large['songs']:,} songs ({profiled['total_ms']:,} ms sampled):"
            )
            for label, table in (
                ("self time per bundle", "self_ms_per_bundle"),
                ("inclusive time per function", "inclusive_ms_per_function"),
            ):
                print(f"    {label}:")
                for where, ms in profiled[table].items():
                    print(f"      {ms:6,} ms  {where}")
    print_rows(rows)
    if results.get("demo"):
        demo = results["demo"]
        print(f"demo map, {demo['songs']:,} songs (until the page has settled; every run):")
        for name, seconds in demo["median_seconds"].items():
            goal = PAGE_LOAD_GOAL if name == "page load" else INTERACTION_GOAL
            print(f"  {name:>15}: median {seconds:.2f} s (goal <= {goal:g} s), all {demo['all_seconds'][name]}")
    print(f"details: {save('dashboard_map', rows, results)}")


if __name__ == "__main__":
    main()

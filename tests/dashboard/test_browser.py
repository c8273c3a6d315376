"""The dashboard served by `streamlit run`, opened in a real headless Chromium.

Debian's chromium (installed by scripts/ensure-chromium.sh, which `make test`
runs) is driven through Playwright's Python API; no browser is downloaded.
The screenshot lands in tests/dashboard/test-output/ (git-ignored).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from taskcode import queries
from taskcode.localpg import free_port
from tests.dashboard.conftest import APP

pytestmark = pytest.mark.slow

ROOT = APP.parents[1]
OUTPUT = Path(__file__).resolve().parent / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def serve(env: dict, log_path: Path):
    """Start `streamlit run dashboards/app.py` on a free loopback port; returns (process, url)."""
    port = free_port()
    command = [
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
    ]
    log = open(log_path, "w")
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    log.close()
    return process, f"http://127.0.0.1:{port}"


def wait_until_healthy(process, url: str, log_path: Path, attempts: int = 600) -> None:
    """Poll /_stcore/health; between polls wait on the process itself, so a crash ends the wait at once."""
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
    pytest.fail(f"streamlit never became healthy:\n{log_path.read_text()[-3000:]}")


def stop(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def coloured_pixels(png: bytes, colour: str, tolerance: int = 40) -> int:
    """How many pixels of a screenshot are close to `colour` (#rrggbb)."""
    from PIL import Image

    target = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(
        count
        for count, pixel in image.getcolors(maxcolors=image.width * image.height)
        if all(abs(a - b) <= tolerance for a, b in zip(pixel, target))
    )


SCREENSHOTS = Path("/tmp")  # every page, to look at
IDLE = "() => !document.querySelector('[data-testid^=\"stStatusWidgetRunning\"]')"
# Each page, and what is on it once it has been drawn (for its screenshot).
PAGES = {
    "model": ".js-plotly-plot >> nth=2",
    "data": '[data-testid="stJson"]',
    "whose-song": '[data-testid="stCaptionContainer"]',
    "discover": "h1",
}
METRICS = [("shown", "Shown"), ("out_of_place", "Out of place"), ("shared", "Shared")]


def metric_locator(page, label: str):
    return page.locator('[data-testid="stMetric"]', has_text=label).locator('[data-testid="stMetricValue"]')


def expected_map(url: str, people: list[str]) -> tuple[dict, object, int]:
    """The champion's points, the counts the map shows with only the first person chosen, and the map id."""
    with queries.read_only(url) as conn:
        maps = queries.newest_maps(conn)
        map_id = int(maps[maps["model_version"] == queries.champion(conn)["version"]].iloc[0]["map_id"])
        points = queries.map_points(conn, map_id)
    mine = points[points["owners"].map(lambda owners: people[0] in owners)]
    counts = {
        "shown": len(mine),
        "out_of_place": int(mine["out_of_place"].sum()),
        "shared": int((mine["owners"].map(len) > 1).sum()),
    }
    return counts, points, map_id


def test_the_map_is_drawn_in_chromium_with_the_song_count(filled_db, tmp_path):
    from playwright.sync_api import sync_playwright

    filtered, points, map_id = expected_map(filled_db.url, filled_db.people)

    env = {
        **os.environ,
        "DATABASE_URL": filled_db.url,
        "TASKCODE_CONFIG": str(filled_db.config_path),
        "PYTHONPATH": str(ROOT),
    }
    log_path = tmp_path / "streamlit.log"
    process, url = serve(env, log_path)
    try:
        wait_until_healthy(process, url, log_path)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                page.goto(url, timeout=60_000)
                plot = page.locator(".js-plotly-plot").first
                plot.wait_for(timeout=60_000)
                # Plotly has drawn every trace on its WebGL canvas once _fullData is set and
                # a frame has passed; the page then shows the song count beside it.
                page.wait_for_function(
                    "() => { const gd = document.querySelector('.js-plotly-plot');"
                    " return gd && gd._fullData && gd._fullData.length > 0"
                    " && gd.querySelector('canvas.gl-canvas-context'); }",
                    timeout=60_000,
                )
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                drawn = page.evaluate(
                    "() => document.querySelector('.js-plotly-plot')._fullData"
                    ".filter(t => t.type === 'scattergl' && t.customdata && t.name !== 'found')"
                    ".reduce((n, t) => n + t._length, 0)"
                )
                colours = page.evaluate(  # each person's dot colour, to find the dots in a screenshot
                    "() => Object.fromEntries(document.querySelector('.js-plotly-plot')._fullData"
                    ".map(t => [t.name, t.marker.color]))"
                )
                count = (
                    page.locator('[data-testid="stMetric"]', has_text="Songs on the map")
                    .locator('[data-testid="stMetricValue"]')
                    .inner_text()
                )

                OUTPUT.mkdir(exist_ok=True)
                page.screenshot(path=str(OUTPUT / "map.png"), full_page=True)
                picture = plot.screenshot()

                # Click one song: the page lists it under "Picked in the map".
                x, y = page.evaluate(
                    "() => { const gd = document.querySelector('.js-plotly-plot'), l = gd._fullLayout,"
                    " t = gd._fullData[0], box = gd.getBoundingClientRect();"
                    " return [box.left + l.xaxis._offset + l.xaxis.l2p(t.x[0]),"
                    " box.top + l.yaxis._offset + l.yaxis.l2p(t.y[0])]; }"
                )
                # Hovering it shows its name, its artists and the model's guess.
                page.mouse.move(x, y)
                hover_label = page.locator(".hoverlayer .hovertext").first
                hover_label.wait_for(timeout=60_000)
                hover = hover_label.text_content()
                first_xy = page.evaluate(
                    "() => { const t = document.querySelector('.js-plotly-plot')._fullData[0];"
                    " return [t.x[0], t.y[0]]; }"
                )
                first_song = page.evaluate(
                    "() => { const t = document.querySelector('.js-plotly-plot')._fullData[0];"
                    " return [t.text[0], t.hovertext[0]]; }"
                )
                page.mouse.click(x, y)
                picked = page.get_by_text("Picked in the map (1)")
                picked.wait_for(timeout=60_000)
                # Why: the picked song's five nearest songs, in a table of their own.
                page.get_by_text("Why: the songs the model finds nearest").wait_for(timeout=60_000)
                page.screenshot(path=str(SCREENSHOTS / "dashboard-map-picked.png"), full_page=True)
                why_table = page.locator('[data-testid="stTable"]').first
                why, why_rows = why_table.inner_text(), why_table.locator("tbody tr").count()

                # The filter: only the first person's songs; every count follows.
                people = page.locator('[data-testid="stMultiSelect"] input').first
                people.click()
                page.keyboard.press("Backspace")  # removes the last person
                page.keyboard.press("Escape")
                shown = metric_locator(page, "Shown")
                page.wait_for_function(
                    "([el, want]) => el.innerText.trim() === want",
                    arg=[shown.element_handle(), f"{filtered['shown']:,}"],
                    timeout=60_000,
                )
                after_filter = {name: metric_locator(page, label).inner_text().strip() for name, label in METRICS}
                page.screenshot(path=str(SCREENSHOTS / "dashboard-map-filtered.png"), full_page=True)
                for path, drawn_when in PAGES.items():
                    page.goto(f"{url}/{path}", timeout=60_000)
                    page.locator(drawn_when).last.wait_for(timeout=60_000)
                    page.wait_for_function(IDLE, timeout=60_000)
                    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{path}.png"), full_page=True)
                    if path == "model":  # the promotion gate's evidence, as a reader sees it
                        gate = page.locator('[data-testid="stTable"]', has_text="95% interval").inner_text()
            finally:
                browser.close()
    finally:
        stop(process)

    assert count.strip() == f"{filled_db.champion_map_points:,}"
    assert drawn == filled_db.champion_map_points
    name, artists = first_song
    assert name in hover and artists.split("<br>")[0] in hover and "model:" in hover, hover
    for person in filled_db.people:  # dots of every person's colour are on the canvas
        colour = next(c for name, c in colours.items() if name.startswith(f"{person} ("))
        assert coloured_pixels(picture, colour) > 50, person
    assert (OUTPUT / "map.png").stat().st_size > 10_000
    assert after_filter == {name: f"{value:,}" for name, value in filtered.items()}
    assert why_rows == 5
    assert "probability better" in gate and "the majority-class baseline" in gate
    assert f"champion version {filled_db.other_version}" in gate and " to +" in gate
    picked_id = points.loc[((points["x"] - first_xy[0]) ** 2 + (points["y"] - first_xy[1]) ** 2).idxmin(), "track_id"]
    with queries.read_only(filled_db.url) as conn:
        nearest = queries.neighbours(conn, map_id, picked_id)
    assert len(nearest) == 5
    for neighbour in nearest["name"]:
        assert neighbour in why, (neighbour, why)

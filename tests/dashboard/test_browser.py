"""The dashboard served by `streamlit run`, opened in a real headless Chromium.

Debian's chromium (installed by scripts/ensure-chromium.sh, which `make test`
runs) is driven through Playwright's Python API; no browser is downloaded.
Screenshots of every page land in tests/dashboard/test-output/ (git-ignored), to look at.
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
from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS, hover_point
from tests.dashboard.conftest import APP

pytestmark = pytest.mark.slow

ROOT = APP.parents[1]
OUTPUT = Path(__file__).resolve().parent / "test-output"


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


SCREENSHOTS = OUTPUT  # every page, to look at
IDLE = "() => !document.querySelector('[data-testid^=\"stStatusWidgetRunning\"]')"
# Each page, and what is on it once it has been drawn (for its screenshot).
PAGES = {
    "model": ".js-plotly-plot >> nth=2",
    "data": '[data-testid="stJson"]',
    "whose-song": '[data-testid="stCaptionContainer"]',
    "discover": "h1",
}
METRICS = [("shown", "Shown"), ("out_of_place", "Out of place"), ("shared", "Shared")]
# The Model page's training curve and importances once Plotly has drawn them: their SVG text.
LEARNING_CHARTS = """() => { const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const find = words => plots.find(gd => gd._fullLayout && (gd._fullLayout.title.text || '').includes(words));
  const curve = find('Training curve'), bars = find(' apart');
  return curve && bars && bars.querySelector('.ytick text') && {curve: curve.textContent,
    bars: [...bars.querySelectorAll('.ytick text')].map(t => t.textContent)}; }"""


VIEWPORT = {"width": 1400, "height": 1100}
# Streamlit scrolls its main part inside the window: the height of the whole page.
PAGE_HEIGHT = (
    "() => Math.max(document.body.scrollHeight, ...[...document.querySelectorAll("
    '\'[data-testid="stMain"], [data-testid="stMainBlockContainer"]\')].map(e => e.scrollHeight))'
)


def screenshot(page, name: str) -> None:
    """The whole page, not only the window: the window is made as tall as the page for the picture."""
    page.set_viewport_size({**VIEWPORT, "height": max(VIEWPORT["height"], page.evaluate(PAGE_HEIGHT))})
    page.wait_for_function(IDLE, timeout=60_000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size(VIEWPORT)


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


def ask_whose_song(page, url: str, track_id: str, name: str) -> tuple[str, str]:
    """Paste a track on "Whose song is it?": the page's text once answered, and its 'why' table's ("" if none)."""
    page.goto(f"{url}/whose-song", timeout=60_000)
    box = page.get_by_label("A Spotify track: link, URI or id")
    box.fill(track_id)
    box.press("Enter")
    page.get_by_text("The champion (version").wait_for(timeout=60_000)
    page.wait_for_function(IDLE, timeout=60_000)
    page.locator('[data-testid="stMetric"]').last.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot .barlayer .point").last.wait_for(timeout=60_000)  # the chances, drawn
    screenshot(page, name)
    tables = page.locator('[data-testid="stTable"]')
    return page.locator('[data-testid="stMain"]').inner_text(), tables.first.inner_text() if tables.count() else ""


def a_discovered_song(url: str, version: int) -> dict:
    """A catalog discovery of the champion (on no map: only the discover step answered it)."""
    with queries.read_only(url) as conn:
        found = queries.discoveries(conn, version)
    return found[found["source"] == "catalog"].iloc[0].to_dict()


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
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(url, timeout=60_000)
                plot = page.locator(".js-plotly-plot").first
                plot.wait_for(timeout=60_000)
                # Plotly has drawn every trace (SVG markers for a household's map) once _fullData
                # is set and a frame has passed; the page then shows the song count beside it.
                page.wait_for_function(
                    "() => { const gd = document.querySelector('.js-plotly-plot');"
                    " return gd && gd._fullData && gd._fullData.length > 0"
                    " && gd.querySelector('.scatterlayer .trace .point'); }",
                    timeout=60_000,
                )
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                drawn = page.evaluate(
                    "() => document.querySelector('.js-plotly-plot')._fullData"
                    ".filter(t => t.type.startsWith('scatter') && t.customdata && t.name !== 'found')"
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

                # Hover one song (its name, its artists and the model's guess show), then click
                # it: the page lists it under "Picked in the map".
                index, x, y = hover_point(page)
                hover = page.locator(".hoverlayer .hovertext").first.text_content()
                first_xy = page.evaluate(
                    "i => { const t = document.querySelector('.js-plotly-plot')._fullData[0];"
                    " return [t.x[i], t.y[i]]; }",
                    index,
                )
                first_song = page.evaluate(
                    "i => { const t = document.querySelector('.js-plotly-plot')._fullData[0];"
                    " return [t.text[i], t.hovertext[i]]; }",
                    index,
                )
                page.mouse.click(x, y)
                picked = page.get_by_text("Picked in the map (1)")
                picked.wait_for(timeout=60_000)
                # Why: the picked song's five nearest songs, in a table of their own.
                page.get_by_text("Why: the songs the model finds nearest").wait_for(timeout=60_000)
                why_table = page.locator('[data-testid="stTable"]').first
                why_table.locator("tbody tr").nth(4).wait_for(timeout=60_000)
                screenshot(page, "dashboard-map-picked")
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
                screenshot(page, "dashboard-map-filtered")
                for path, drawn_when in PAGES.items():
                    page.goto(f"{url}/{path}", timeout=60_000)
                    page.locator(drawn_when).last.wait_for(timeout=60_000)
                    page.wait_for_function(IDLE, timeout=60_000)
                    if path == "model":
                        learning = page.wait_for_function(LEARNING_CHARTS, timeout=60_000).json_value()
                        # The promotion gate's evidence, as a reader sees it.
                        gate = page.locator('[data-testid="stTable"]', has_text="95% interval").inner_text()
                    screenshot(page, f"dashboard-{path}")
                # "Whose song is it?": a song on the map, with its nearest songs; a discovered song.
                known = filled_db.known_track
                known_text, known_why = ask_whose_song(page, url, known["track_id"], "dashboard-whose-song-known")
                discovered = a_discovered_song(filled_db.url, filled_db.champion)
                discovered_text, _ = ask_whose_song(
                    page, url, discovered["track_id"], "dashboard-whose-song-discovered"
                )
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
    with queries.read_only(filled_db.url) as conn:
        champion = queries.model_version(conn, filled_db.champion)["metrics"]
    assert f"best: epoch {champion['best_epoch']}" in learning["curve"] and "validation songs" in learning["curve"]
    assert len(learning["bars"]) == len(champion["importance"]) and "the artists (who likes them)" in learning["bars"]
    winner = max(known["probabilities"], key=known["probabilities"].get)
    assert f"{winner}'s song" in known_text, known_text
    with queries.read_only(filled_db.url) as conn:
        known_nearest = queries.neighbours(conn, map_id, known["track_id"])
    assert len(known_nearest) == 5
    for neighbour, owners in zip(known_nearest["name"], known_nearest["owners"]):
        assert neighbour in known_why and (", ".join(owners) or "—") in known_why, (neighbour, known_why)
    assert discovered["name"] in discovered_text and "catalog discoveries" in discovered_text, discovered_text
    assert "'s song" in discovered_text and "Unknown song" not in discovered_text

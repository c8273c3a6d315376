"""What the browser test and bench/dashboard_map.py share to drive the map in Debian's chromium."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# The first point of a trace that lies inside the plot area and the window, and where it is on the
# page: its index and page pixels (from the axes' own data-to-pixel maps).
_VISIBLE_POINT = (
    "trace => { const gd = document.querySelector('.js-plotly-plot'), l = gd._fullLayout,"
    " t = gd._fullData[trace], box = gd.getBoundingClientRect();"
    " for (let i = 0; i < t._length; i++) {"
    "  const px = l.xaxis.l2p(t.x[i]), py = l.yaxis.l2p(t.y[i]);"
    "  const x = box.left + l.xaxis._offset + px, y = box.top + l.yaxis._offset + py;"
    "  if (px > 5 && py > 5 && px < l.xaxis._length - 5 && py < l.yaxis._length - 5"
    "      && y > 0 && y < window.innerHeight - 5) return [i, x, y]; }"
    " return null; }"
)


def hover_point(page, trace: int = 0) -> tuple[int, float, float]:
    """Hover a point of `trace` that is in view until Plotly shows its label: (its index, x, y)."""
    found = page.evaluate(_VISIBLE_POINT, trace)
    assert found is not None, "no point of the trace is in view"
    index, x, y = found
    page.mouse.move(x, y)
    page.locator(".hoverlayer .hovertext").first.wait_for(timeout=60_000)
    return index, x, y


def pick_point(page, trace: int = 0) -> int:
    """Click a point in view, hovered first (Plotly picks the point it has hovered); returns its index."""
    index, x, y = hover_point(page, trace)
    page.mouse.click(x, y)
    return index

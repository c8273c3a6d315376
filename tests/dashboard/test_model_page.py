"""The Model page's training curve and importances, under AppTest against the filled database."""

from __future__ import annotations

import psycopg2
import pytest

from taskcode import queries
from tests.dashboard.test_pages import charts, no_exception, numbers, texts

pytestmark = pytest.mark.slow


def _chart(at, title: str) -> dict:
    return next(s for s in charts(at) if title in s["layout"]["title"]["text"])


def test_the_model_page_draws_the_champions_curve_and_importances(filled_db, app):
    with queries.read_only(filled_db.url) as conn:
        metrics = queries.model_version(conn, filled_db.champion)["metrics"]
    at = no_exception(app("page_model.py"))

    curve = _chart(at, "Training curve")
    lines = {t["name"]: numbers(t["y"]) for t in curve["data"]}
    assert list(lines["validation songs"]) == pytest.approx(metrics["curve"]["val_loss"])
    best = next(t for t in curve["data"] if t["name"].startswith("best epoch"))
    assert list(numbers(best["x"])) == [metrics["best_epoch"]]

    bars = _chart(at, f"What tells {' and '.join(filled_db.people)} apart")["data"][0]
    drops = list(numbers(bars["x"]))
    assert len(drops) == len(metrics["importance"]) and drops == sorted(drops)
    assert max(drops) == pytest.approx(max(v["f1_drop"] for v in metrics["importance"].values()))
    best, ran = metrics["best_epoch"], metrics["epochs"]
    kept = f"still falling at the last epoch ({ran})" if best == ran else f"kept the weights of epoch {best}"
    assert kept in texts(at)


def test_a_version_trained_before_curves_were_stored_says_so_in_one_line(filled_db, app):
    with psycopg2.connect(filled_db.url) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE model_versions SET metrics = metrics - 'curve' - 'best_epoch' - 'importance' WHERE version = %s",
            (filled_db.champion,),
        )
    conn.close()
    at = no_exception(app("page_model.py"))
    assert not any("Training curve" in s["layout"]["title"]["text"] for s in charts(at))
    assert f"Version {filled_db.champion} was trained before training curves and importances were stored." in texts(at)

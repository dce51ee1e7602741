"""The figure pages in a real browser (issue 9, item 4): on the demo data, every chart of the officers' page and of
the public summary is drawn by the vendored Chart.js (its canvas holds painted pixels), with no console error, no
script error and no Content-Security-Policy violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.journey_support import sign_in, snap

# Records CSP violations before any page script runs (an init script is the browser's own, not the page's).
WATCH_CSP = ("window.__csp = [];"
             "document.addEventListener('securitypolicyviolation',"
             " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")

# For each chart: its id and whether any pixel of the canvas is painted.
PAINTED = """() => Array.from(document.querySelectorAll('canvas[data-chart]')).map(c => {
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = false;
  for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) { painted = true; break; } }
  return [c.id, c.width > 0 && c.height > 0 && painted, window.Chart.getChart(c) !== undefined];
})"""


def _watch(page: Page) -> list[str]:
    """Collect console errors (a failed /favicon.ico request among them: the icon is inline) and uncaught script
    errors."""
    problems: list[str] = []
    page.add_init_script(WATCH_CSP)
    page.on("console", lambda message: problems.append(f"{message.text} {message.location.get('url', '')}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def _charts_drawn(page: Page, url: str, problems: list[str]) -> list:
    page.goto(url)
    page.wait_for_function("() => window.Chart !== undefined && document.querySelector('canvas[data-chart]')")
    charts = page.evaluate(PAINTED)
    assert charts, f"{url}: no chart"
    assert all(painted and bound for _id, painted, bound in charts), charts
    assert page.evaluate("window.__csp") == []
    assert problems == []
    return charts


@pytest.mark.usefixtures("demo_data")
def test_the_officers_and_the_public_charts_are_drawn(people):
    officer = people(None)
    problems = _watch(officer)
    sign_in(officer, "officer")
    charts = _charts_drawn(officer, "/dashboard/figures", problems)
    assert {"chart-plan", "chart-bureau", "chart-method", "chart-grades"} <= {c[0] for c in charts}
    snap(officer, "dashboard-figures")

    public = people(None)
    problems = _watch(public)
    _charts_drawn(public, "/statistics", problems)
    assert public.locator("main table").count() >= 1
    snap(public, "statistics")

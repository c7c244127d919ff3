"""``convcalc report``: the self-contained HTML page, checked as text and in a real headless
Chromium (screenshot, console, network, sorting, searching, the charts)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.render.graphviz import engines
from tests.browser import Browser, find_chromium

pytestmark = pytest.mark.skipif(
    not engines(), reason="no Graphviz engine (neither dot nor graphviz-pure) is installed"
)


def vl_convert_missing() -> bool:
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        return True
    return False


needs_charts = pytest.mark.skipif(vl_convert_missing(), reason="vl-convert-python is missing")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of ResNet-18 with training memory."""
    if vl_convert_missing():
        pytest.skip("vl-convert-python is missing")
    path = tmp_path_factory.mktemp("report") / "resnet18.html"
    result = CliRunner().invoke(app, ["report", "zoo:resnet18", "--train", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_the_page_loads_nothing(page: Path) -> None:
    html = page.read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""\b(?:src|href)\s*=\s*["'](?!#)""", html)
    assert "@import" not in html and "url(http" not in html


def test_the_page_has_totals_diagram_charts_and_table(page: Path) -> None:
    html = page.read_text()
    assert "<h1>resnet18</h1>" in html
    assert "11,689,512" in html  # the params
    assert html.count('<figure class="chart"') == 5  # MACs, params, live, training, RF
    assert html.count('<tr id="row-') == 69
    assert html.count("<svg") == 6


@needs_charts
def test_charts_without_training_or_images(tmp_path: Path) -> None:
    spec = tmp_path / "mlp.yaml"
    spec.write_text("input: 64\nlayers:\n  - fc: {out: 32}\n  - relu\n  - fc: {out: 10}\n")
    result = CliRunner().invoke(app, ["report", str(spec), "-o", str(tmp_path / "mlp.html")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "mlp.html").read_text()
    charts = re.findall(r'data-chart="(\w+)"', html)
    assert charts == ["macs", "params", "memory"]  # a vector input has no receptive field


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CONVCALC_REQUIRE_BROWSER"):
            pytest.fail("CONVCALC_REQUIRE_BROWSER is set (as in CI) but no Chromium is installed")
        pytest.skip("no Chromium: install Debian's chromium package to run the browser tests")
    opened = Browser(executable)
    opened.send(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    yield opened
    opened.close()


ROW_PATHS = "Array.from(document.querySelectorAll('#layers tbody tr')).map(r => r.dataset.path)"
VISIBLE = "Array.from(document.querySelectorAll('#layers tbody tr')).filter(r => !r.hidden).length"


def test_in_chromium(page: Path, browser: Browser, tmp_path: Path) -> None:
    browser.open(page)
    shot = tmp_path / "report.png"
    browser.screenshot(shot)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    assert browser.problems() == []
    assert browser.requests() == [page.resolve().as_uri()]
    assert browser.evaluate("document.querySelectorAll('figure.chart svg').length") == 5
    assert browser.evaluate("document.querySelectorAll('#diagram svg g.node').length") == 70

    # The MACs column (8th) sorts ascending on a click, descending on the next.
    before = browser.evaluate(ROW_PATHS)
    browser.click("#layers th:nth-child(8)")
    macs = (
        "Array.from(document.querySelectorAll('#layers tbody tr')).map(r => +r.cells[7].dataset.v)"
    )
    ascending = browser.evaluate(macs)
    assert ascending == sorted(ascending) and browser.evaluate(ROW_PATHS) != before
    browser.click("#layers th:nth-child(8)")
    descending = browser.evaluate(macs)
    assert descending == sorted(ascending, reverse=True)
    assert browser.evaluate("document.querySelector('#layers th:nth-child(8)').ariaSort") == (
        "descending"
    )

    # Typing in the search box keeps the rows whose path contains the text.
    browser.click("#search")
    browser.send("Input.insertText", text="layer3")
    expected = sum("layer3" in path for path in before)
    assert expected > 0 and browser.evaluate(VISIBLE) == expected
    assert browser.evaluate("document.getElementById('shown').textContent") == (
        f"{expected} of 69 layers"
    )

    # Clicking a box of the diagram finds its row.
    browser.click("#diagram g#node-row-0")
    assert browser.evaluate("document.getElementById('row-0').className") == "found"
    assert browser.evaluate(VISIBLE) == 69

    # Zooming changes the diagram's size.
    width = browser.evaluate("document.querySelector('#diagram svg').getAttribute('width')")
    browser.click("[data-zoom=in]")
    zoomed = browser.evaluate("document.querySelector('#diagram svg').getAttribute('width')")
    assert float(zoomed) == pytest.approx(float(width) * 1.25)

    # Hovering over a bar of the MACs chart names its row and value.
    bar = "figure[data-chart=macs] [role=graphics-symbol][aria-label^='#0 ']"
    browser.evaluate(f"document.querySelector({bar!r}).scrollIntoView()")
    x, y = browser.evaluate(
        f"(() => {{ const r = document.querySelector({bar!r}).getBoundingClientRect(); "
        "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    browser.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
    assert browser.evaluate("document.getElementById('tip').style.display") == "block"
    assert browser.evaluate("document.getElementById('tip').textContent") == "#0 conv1: 118.01 M"
    assert browser.problems() == []

"""Open the built book in headless Chromium, as a reader would, with the network cut off.

Run after `make build`. Checks every page listed in the table of contents: it loads, its images
load, its math renders (MathJax served from the book itself, no errors), the search page answers,
and no request leaves the machine. In CI (``CI=true``) a missing Chromium or a missing build is a
failure; elsewhere the test is skipped with a message saying what to install.
"""

from __future__ import annotations

import sys
from urllib.parse import urlparse

import pytest
from test_book import ROOT, toc_files

sys.path.insert(0, str(ROOT / "chapters" / "_ext"))
from print_pdf import CHROMIUM, IN_CI, serve  # the book's build tools (chapters/_ext) are not a package

pytestmark = pytest.mark.browser

HTML = ROOT / "_build" / "html"
# Flags that keep Chromium from phoning home at start-up (its own background requests would
# otherwise be counted as requests leaving the machine).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]


# The theme logs this on a reader's first visit (no colour mode stored yet); nothing is wrong.
HARMLESS = {"Got invalid theme mode: . Resetting to auto."}


def _need(condition: bool, message: str) -> None:
    if not condition:
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def server():
    _need((HTML / "index.html").exists(), f"{HTML / 'index.html'} is missing: run `make build` first")
    with serve(HTML) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    _need(CHROMIUM is not None, "Chromium not found: install Debian's `chromium` package to run the browser test")
    try:
        from playwright import sync_api
    except ImportError:
        _need(False, "playwright is not installed: `pip install playwright` (it drives the system's Chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser):
    """A fresh page whose every request to a host other than this machine is recorded and blocked."""
    context = browser.new_context()
    page = context.new_page()
    page.outside = []
    page.console_errors = []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host in {"127.0.0.1", "localhost"}:
            r.continue_()
        else:
            page.outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and m.text not in HARMLESS and page.console_errors.append(m.text))
    yield page
    context.close()


def pages() -> list[str]:
    return [entry + ".html" for entry in toc_files()]


@pytest.mark.parametrize("path", pages())
def test_page_renders_offline(server, page, path):
    response = page.goto(f"{server}/{path}", wait_until="load")
    assert response is not None and response.ok, f"{path}: HTTP {response.status if response else 'no response'}"
    heading = page.locator("main h1").first.inner_text().strip().rstrip("#").strip()
    assert heading, f"{path}: the page has no heading"
    assert heading in page.title(), f"{path}: title {page.title()!r} does not name the heading {heading!r}"
    text = page.locator("main").first.inner_text()
    assert len(text) > 200, f"{path}: the page's main text is only {len(text)} characters"

    # images: every <img> finished loading and has a size
    broken = page.evaluate(
        """() => Array.from(document.images)
                 .filter(img => !(img.complete && img.naturalWidth > 0))
                 .map(img => img.src)"""
    )
    assert not broken, f"{path}: images failed to load: {broken}"

    # math: wait for MathJax to typeset, then look for errors
    has_math = page.evaluate("() => document.querySelector('.math, span.math, div.math') !== null")
    if has_math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
        page.evaluate("() => MathJax.startup.promise")
        rendered = page.evaluate("() => document.querySelectorAll('mjx-container').length")
        errors = page.evaluate("() => Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent)")
        assert rendered > 0, f"{path}: has math, but MathJax rendered none of it"
        assert not errors, f"{path}: MathJax errors: {errors}"

    assert not page.outside, f"{path}: requests tried to leave the machine: {page.outside}"
    assert not page.console_errors, f"{path}: console errors: {page.console_errors}"


def test_search_answers(server, page):
    page.goto(f"{server}/search.html?q=autoregressive", wait_until="load")
    page.wait_for_selector("#search-results ul.search li", timeout=20_000)
    hits = page.locator("#search-results ul.search li").count()
    assert hits > 0, "search for 'autoregressive' found nothing"
    assert not page.outside, f"search page requests tried to leave the machine: {page.outside}"


def test_math_renders_in_a_screenshot(server, page):
    """A screenshot of chapter 1 with rendered display math, written to _build/screenshots for a
    human to look at; the check is that the display equations were typeset (not left as TeX)."""
    page.goto(f"{server}/chapters/01_autoregression.html", wait_until="load")
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
    page.evaluate("() => MathJax.startup.promise")
    display = page.locator('mjx-container[display="true"]')
    assert display.count() > 0, "chapter 1 has display equations, but none was typeset"
    assert page.locator("div.math").first.inner_text().find("\\frac") < 0, "raw TeX is still visible"
    out = ROOT / "_build" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "01_autoregression.png"
    display.first.scroll_into_view_if_needed()
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000, f"{shot} is suspiciously small"


def test_introduction_links_the_pdf(server, page):
    page.goto(f"{server}/chapters/intro.html", wait_until="load")
    link = page.locator('a[href$="book.pdf"]')
    assert link.count() == 1, "the introduction does not link the PDF"
    response = page.request.get(f"{server}/chapters/" + link.get_attribute("href"))
    assert response.ok, f"the PDF link answers {response.status}"
    assert response.body()[:5] == b"%PDF-", "the PDF link does not serve a PDF"

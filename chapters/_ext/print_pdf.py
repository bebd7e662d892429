"""Print the single-page HTML build of the book to one PDF with headless Chromium (``make pdf``).

Usage: ``python chapters/_ext/print_pdf.py _build/singlehtml book.pdf``

Offline: the page, its MathJax and its figures are local files, served from 127.0.0.1 (MathJax
does not load its parts from ``file://`` URLs). The script waits until MathJax
has typeset every formula, adds a linked table of contents after the title, starts each chapter
on a new page, wraps long code lines, and prints A4 pages with page numbers and a PDF outline
(bookmarks) built from the headings. Without Chromium it says so and makes no PDF, and without a
font that covers Chinese (the glossary gives each term's Chinese name) it warns; in CI, where
``CI`` is ``true``, ``1`` or ``yes``, both are errors.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

#: The system's Chromium (Playwright drives it; it never downloads a browser here), or None.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Whether this runs in CI, where a missing tool is an error rather than a reason to skip.
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
NO_CHROMIUM = "Chromium not found: install Debian's `chromium` package to print the PDF"
NO_CHINESE_FONT = (
    "no font with Chinese characters (fc-list :lang=zh is empty), so the glossary's Chinese terms "
    "would print as empty boxes: install Debian's `fonts-wqy-zenhei` package"
)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]

# A linked table of contents after the book's title: one entry per document the single page
# inlines (each chapter, appendix and reference page), named by its heading.
CONTENTS = r"""() => {
  const title = document.querySelector("article section > h1");
  const nav = document.createElement("nav");
  nav.id = "pdf-contents";
  nav.innerHTML = "<h2>Contents</h2>";
  const list = document.createElement("ol");
  for (const anchor of document.querySelectorAll('span[id^="document-"]')) {
    const heading = anchor.nextElementSibling && anchor.nextElementSibling.querySelector("h1, h2");
    if (!heading) continue;
    const link = document.createElement("a");
    link.href = "#" + anchor.id;
    link.textContent = heading.textContent.replace(/#\s*$/, "").trim();
    list.appendChild(document.createElement("li")).appendChild(link);
  }
  nav.appendChild(list);
  title.after(nav);
  return list.children.length;
}"""

# Each inlined document starts on a new page, after the contents; code and outputs wrap instead of
# running off the page; the navigation, buttons and the theme's own short contents are hidden.
PRINT_CSS = """
  #pdf-contents { break-after: page; }
  #pdf-contents ol { list-style: none; padding-left: 0; line-height: 1.9; }
  span[id^="document-"] + section { break-before: page; }
  pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
  #jb-print-toc, details.hide summary, .toggle-button { display: none !important; }
  .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header, .bd-footer, .headerlink,
  .header-article, .prev-next-area, .bd-footer-article { display: none !important; }
  .bd-main .bd-content .bd-article-container { max-width: 100% !important; }
  pre, img { break-inside: avoid; }
  h1, h2, h3, h4, dt, .admonition-title { break-after: avoid; }
"""

FOOTER = (
    '<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a free local port for as long as the block runs; yield its URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()


def has_chinese_font() -> bool:
    """Whether fontconfig, which Chromium uses, knows a font that covers Chinese."""
    if shutil.which("fc-list") is None:
        return False
    listed = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


def print_pdf(build: Path, pdf: Path) -> int:
    """Print the single-page build in directory ``build`` to ``pdf``; return the number of
    documents the table of contents lists.

    The build writes the book to ``chapters/intro.html`` but links its images and scripts as if
    the page were at the top (``_static/...``), so the page is copied there first.
    """
    pages = sorted((build / "chapters").glob("*.html"))
    if len(pages) != 1:
        raise FileNotFoundError(f"{build}: expected one page in chapters/ (a single-page build), found {len(pages)}")
    shutil.copyfile(pages[0], build / "book.html")
    if CHROMIUM is None:
        raise FileNotFoundError(NO_CHROMIUM)
    from playwright.sync_api import sync_playwright  # here, so that importing `serve` needs no browser

    with serve(build) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{url}/book.html", wait_until="load")
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
            page.evaluate("() => MathJax.startup.promise")  # resolves once every formula is typeset
            chapters = page.evaluate(CONTENTS)
            page.add_style_tag(content=PRINT_CSS)
            page.emulate_media(media="print")
            pdf.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(
                path=str(pdf),
                format="A4",
                margin={"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"},
                print_background=True,
                display_header_footer=True,
                header_template="<div></div>",
                footer_template=FOOTER,
                outline=True,
                tagged=True,
            )
        finally:
            browser.close()
    return chapters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="the single-page build's directory")
    parser.add_argument("pdf", type=Path, help="where to write the PDF")
    args = parser.parse_args(argv)
    if CHROMIUM is None and not IN_CI:
        print(f"{NO_CHROMIUM}; the PDF was not made (the HTML book is complete)", file=sys.stderr)
        return 0
    if not has_chinese_font():
        if IN_CI:
            raise SystemExit(NO_CHINESE_FONT)
        print(f"warning: {NO_CHINESE_FONT}", file=sys.stderr)
    chapters = print_pdf(args.build, args.pdf)
    print(f"{args.pdf}: {chapters} documents, {args.pdf.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The course website (tools/build_site.py), built into a temporary folder and opened in headless Chromium.

It builds the site from the stored outputs, serves it with http.server on a loopback port, and opens the home
page and every page in the same Chromium as tests/test_browser.py (Debian's /usr/bin/chromium or
$MINIPOSE_CHROMIUM). Checked: no console error, no failed or outside request, every image decodes, every lesson
page shows as many figures as its lesson has, the navigation reaches every lesson, the search finds
"soft-argmax" in lesson 05, and no solution line of any exercise appears in any page. A doctored copy of a page
proves the checks can fail. Screenshots (full page) go to $MINIPOSE_SITE_SHOTS or a temporary folder (printed).
Select or skip with the marker: `pytest -m docs` / `pytest -m "not docs"`. Without MkDocs (the `docs` extra)
or without Chromium the tests are skipped with the reason.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_browser import headless_chromium, skip_without_chromium  # the JupyterLab test's browser

from conftest import ROOT

pytestmark = pytest.mark.docs

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
LESSONS = sorted(p.name for p in (ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
APPENDICES = sorted(p.name for p in (ROOT / "lessons").glob("A[0-9]_*.ipynb"))
# Pages: the home page, every lesson and appendix, and the docs pages there are (docs/website.md at least).
DOCS_PAGES = sorted(p.stem + ".html" for p in (ROOT / "docs").glob("*.md") if p.name != "index.md")
PAGES = ["index.html"] + [f"lessons/{n[:-6]}.html" for n in LESSONS + APPENDICES] + DOCS_PAGES


def _build_site_module():
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def normalise(text: str) -> str:
    return " ".join(text.split())


def image_outputs(lesson: str) -> int:
    """Image outputs the lesson file stores, outside the instructor cells (which are never shown)."""
    nb = json.loads((ROOT / "lessons" / lesson).read_text(encoding="utf-8"))
    return sum(1 for cell in nb["cells"] if "instructor" not in cell.get("metadata", {}).get("tags", [])
               for out in cell.get("outputs", []) if any(k.startswith("image/") for k in out.get("data", {})))


@functools.cache
def solution_lines() -> dict[str, str]:
    """Every non-trivial line of every solution region in lessons/*.ipynb (normalised) -> the lesson it is from.
    Left out: lines that also appear in a student version (blank lines, `return out`, a line of one lesson's
    solution that another lesson shows) and lines of fewer than 10 characters besides spaces (`else:`, `pool,`)."""
    build_site = _build_site_module()
    cell_text = build_site.make_student.cell_text
    shown = normalise("\n".join(cell_text(cell) for path in build_site.lesson_files()
                                for cell in build_site.make_student.student_notebook(path)[0]["cells"]))
    found = {}
    for path in build_site.lesson_files():
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            inside = False
            for line in cell_text(cell).split("\n"):
                if MARKERS[0] in line or MARKERS[1] in line:
                    inside = MARKERS[0] in line
                    continue
                line = normalise(line)
                if inside and len(line.replace(" ", "")) >= 10 and line not in shown:
                    found[line] = path.name
    return found


def leaks(text: str, lesson_page: bool) -> list[str]:
    """The solution lines (and, on a lesson page, solution markers) in a page's text."""
    text = normalise(text)
    found = [f"{line!r} (from {lesson})" for line, lesson in solution_lines().items() if line in text]
    if lesson_page:  # docs pages (instructors.md) may name the markers in prose; lesson pages never hold them
        found += [marker for marker in MARKERS if marker in text]
    return found


# --- the built site, served --------------------------------------------------------------------------------------

@dataclass
class Site:
    root: Path  # the folder served: the built site in site/, a doctored copy in broken/
    url: str  # http://127.0.0.1:PORT
    shots: Path
    build_s: float


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no line per request in the test output
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="MkDocs is not installed: pip install -c constraints.txt -e \".[lessons,dev,docs]\"")
    pytest.importorskip("material", reason="mkdocs-material is not installed (the docs extra)")
    pytest.importorskip("mkdocs_jupyter", reason="mkdocs-jupyter is not installed (the docs extra)")
    root = tmp_path_factory.mktemp("website")
    start = time.perf_counter()
    _build_site_module().build(root / "site", quiet=True)
    build_s = time.perf_counter() - start
    print(f"\nsite built in {build_s:.1f} s")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    shots = Path(os.environ.get("MINIPOSE_SITE_SHOTS") or root / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {shots}")
    try:
        yield Site(root, f"http://127.0.0.1:{server.server_address[1]}", shots, build_s)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(site):
    skip_without_chromium()
    with headless_chromium() as chromium:
        yield chromium


@dataclass
class Visit:
    problems: list[str] = field(default_factory=list)  # console errors, failed and outside requests
    images: list[tuple[str, int]] = field(default_factory=list)  # (src, naturalWidth) of every <img>
    figures: int = 0  # decoded images in the notebook's outputs
    toc: int = 0  # entries in the page's table of contents
    text: str = ""  # what the page shows
    code: list[tuple[int, bool, bool]] = field(default_factory=list)  # per notebook <pre>: longest line, scrolls, output
    raw_tex: list[str] = field(default_factory=list)  # formulas in the text cells that MathJax did not typeset


# Every <pre> of a notebook cell: (its longest line in characters, whether it scrolls sideways, whether it is output).
CODE_WIDTHS = """() => [...document.querySelectorAll('.jupyter-wrapper pre')].map(pre => [
    Math.max(...pre.textContent.split('\\n').map(line => line.length)),
    pre.scrollWidth > pre.clientWidth + 1,
    pre.closest('.jp-OutputArea-output') !== null])"""
# LaTeX left as text in the text cells (code, and what MathJax typeset, left out): $$ or a command like \frac.
RAW_TEX = """() => [...document.querySelectorAll('.jupyter-wrapper .jp-MarkdownCell')].map(cell => {
    const copy = cell.cloneNode(true);
    copy.querySelectorAll('code, pre, script, .MathJax, .MathJax_Display, .MathJax_Preview').forEach(e => e.remove());
    return (copy.textContent.match(/\\$\\$|\\\\[a-zA-Z]{2,}/g) || []).join(' ');
}).filter(found => found)"""
MATHJAX_DONE = "() => !window.MathJax || !MathJax.Hub || (MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running)"


def visit(browser, site: Site, path: str, shot: str | None = None) -> Visit:
    """Open one page as a reader would; note everything that went wrong on the way."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    seen = Visit()
    own = site.url + "/"

    def route(r):  # nothing may leave the machine: note and refuse any request to another host
        if r.request.url.startswith(own) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            seen.problems.append(f"outside request: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and seen.problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: seen.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: r.url.startswith(own) and seen.problems.append(f"failed request: {r.url}"))
    page.on("response", lambda r: r.status >= 400 and seen.problems.append(f"HTTP {r.status}: {r.url}"))
    try:
        page.goto(own + path, wait_until="networkidle")
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
        page.wait_for_function(MATHJAX_DONE, timeout=30_000)
        seen.images = page.eval_on_selector_all("img", "els => els.map(e => [e.src.slice(0, 60), e.naturalWidth])")
        seen.figures = page.eval_on_selector_all(
            ".jupyter-wrapper .jp-OutputArea-output img", "els => els.filter(e => e.naturalWidth > 0).length")
        seen.toc = page.locator(".md-sidebar--secondary nav.md-nav--secondary a.md-nav__link").count()
        seen.text = page.locator("body").inner_text()
        seen.code = page.evaluate(CODE_WIDTHS)
        seen.raw_tex = page.evaluate(RAW_TEX)
        if shot:
            page.screenshot(path=str(site.shots / shot), full_page=True)
    finally:
        page.close()
    return seen


# --- the tests ---------------------------------------------------------------------------------------------------

def test_every_lesson_is_a_page(site):
    built = {p.relative_to(site.root / "site").as_posix() for p in (site.root / "site").rglob("*.html")}
    assert set(PAGES) <= built, f"missing pages: {sorted(set(PAGES) - built)}"
    assert site.build_s < 60, f"the site took {site.build_s:.0f} s to build"


def test_no_solution_in_the_built_files(site):
    """The HTML of every page and the search index: no solution line, no marker on a lesson page."""
    from bs4 import BeautifulSoup

    assert len(solution_lines()) > 100, "too few solution lines found: is the marker format still the same?"
    for html in sorted((site.root / "site").rglob("*.html")):
        text = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser").get_text()
        found = leaks(text, lesson_page=html.parent.name == "lessons")
        assert not found, f"{html.name} shows solutions: {found[:5]}"
    index = json.loads((site.root / "site" / "search" / "search_index.json").read_text(encoding="utf-8"))
    for doc in index["docs"]:
        text = BeautifulSoup(doc["text"], "html.parser").get_text()
        found = leaks(doc["title"] + " " + text, lesson_page=doc["location"].startswith("lessons/"))
        assert not found, f"the search index entry {doc['location']} holds solutions: {found[:5]}"


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.browser  # opens Chromium: left out by the quick path, -m "not browser"
def test_page(site, browser, path):
    seen = visit(browser, site, f"site/{path}", shot=path.replace("/", "_").replace(".html", ".png"))
    assert not seen.problems, f"{path}: " + "\n".join(seen.problems[:10])
    broken = [src for src, width in seen.images if width == 0]
    assert not broken, f"{path}: images that do not decode: {broken[:5]}"
    if path.startswith("lessons/"):
        lesson = Path(path).stem + ".ipynb"
        assert seen.figures == image_outputs(lesson), \
            f"{path}: {seen.figures} figures shown, the lesson stores {image_outputs(lesson)}"
        assert seen.toc >= 3, f"{path}: the table of contents has {seen.toc} entries"
        assert "YOUR CODE HERE" in seen.text or lesson in APPENDICES, f"{path}: not the student version"
        assert not seen.raw_tex, f"{path}: formulas shown as LaTeX text (MathJax not loaded?): {seen.raw_tex}"
        # Lines of at most 100 characters read without scrolling sideways (tools/build_site.py's CSS); outputs wrap.
        scrolls = [(longest, output) for longest, scrolling, output in seen.code if scrolling]
        assert not [s for s in scrolls if s[0] <= 100 or s[1]], f"{path}: cells that scroll sideways: {scrolls}"
        if scrolls:
            print(f"{path}: {len(scrolls)} code cell(s) scroll sideways, lines of up to {max(scrolls)[0]} characters")
    found = leaks(seen.text, lesson_page=path.startswith("lessons/"))
    assert not found, f"{path} shows solutions: {found[:5]}"


@pytest.mark.browser  # opens Chromium: left out by the quick path, -m "not browser"
def test_navigation_reaches_every_lesson(site, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{site.url}/site/index.html")
        hrefs = page.eval_on_selector_all("nav.md-nav--primary a.md-nav__link[href]", "els => els.map(e => e.href)")
    finally:
        page.close()
    reached = {h.split("/site/", 1)[1].split("#")[0] for h in hrefs if "/site/" in h}
    wanted = {f"lessons/{n[:-6]}.html" for n in LESSONS + APPENDICES}
    assert wanted <= reached, f"not in the navigation: {sorted(wanted - reached)}"


@pytest.mark.browser  # opens Chromium: left out by the quick path, -m "not browser"
def test_search_finds_soft_argmax(site, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{site.url}/site/index.html", wait_until="networkidle")
        page.locator("label.md-search__icon, .md-search__input").first.click()
        page.locator("input.md-search__input").press_sequentially("soft-argmax", delay=50)  # typed, as a reader does
        results = page.locator(".md-search-result__item a")
        results.first.wait_for(timeout=30_000)
        hrefs = results.evaluate_all("els => els.map(e => e.href)")
        page.screenshot(path=str(site.shots / "search_soft-argmax.png"))
    finally:
        page.close()
    assert any("lessons/05_soft_argmax.html" in h for h in hrefs), f"no result in lesson 05: {hrefs[:10]}"


@pytest.mark.browser  # opens Chromium: left out by the quick path, -m "not browser"
def test_the_checks_can_fail(site, browser):
    """A doctored copy of lesson 05's page: a solution line and a marker, a broken and a missing figure, a console
    error, an outside request, a short line that scrolls and an untypeset formula planted. Each check above must
    see its fault."""
    broken = site.root / "broken"
    if not broken.exists():
        shutil.copytree(site.root / "site", broken)
    page = broken / "lessons" / "05_soft_argmax.html"
    html = page.read_text(encoding="utf-8")
    line = next(line for line, lesson in solution_lines().items() if lesson.startswith("05"))
    figure = re.compile(r'<img alt="[^"]*" class="" src="data:image/png;base64,[^"]*"')
    first, second = figure.finditer(html).__next__(), list(figure.finditer(html))[1]
    doctored = (html[:first.start()] + '<img alt="" class="" src="data:image/png;base64,AAAA"'
                + html[first.end():second.start()] + html[second.end():])  # one figure broken, one gone
    plant = (f"<pre>{line}</pre><pre>### BEGIN SOLUTION</pre><script>console.error('a planted error')</script>"
             '<img src="http://example.invalid/planted.png">'
             f'<pre style="width: 8em; overflow: auto">{"x" * 60}</pre>'  # a short line that has to scroll
             r'<div class="jp-MarkdownCell tex2jax_ignore">$$k = \sqrt{2}$$</div>')  # a formula MathJax skips
    page.write_text(doctored.replace('<div class="jupyter-wrapper">', '<div class="jupyter-wrapper">' + plant, 1),
                    encoding="utf-8")
    seen = visit(browser, site, "broken/lessons/05_soft_argmax.html")
    problems = "\n".join(seen.problems)
    assert "a planted error" in problems and "example.invalid" in problems, problems
    assert sum(width == 0 for _, width in seen.images) >= 2  # the broken figure and the refused outside image
    assert seen.figures == image_outputs("05_soft_argmax.ipynb") - 2
    assert (60, True, False) in [tuple(c) for c in seen.code]
    assert seen.raw_tex == ["$$ \\sqrt $$"], seen.raw_tex
    found = leaks(seen.text, lesson_page=True)
    assert repr(line) in " ".join(found) and "### BEGIN SOLUTION" in found, found

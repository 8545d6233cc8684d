"""The docs site, built and looked at as a reader would.

- ``mkdocs build --strict`` passes (into a temporary directory) and warns about nothing.
- The built site, served on 127.0.0.1, is opened page by page in headless Chromium
  (Debian's /usr/bin/chromium driven by Playwright; no browser is ever downloaded):
  no console errors, no request to any other host, no missing local file, every graph
  the Markdown asks for is there as an SVG, every formula typeset by KaTeX, site search
  finds "retain_graph", and the language switch leads to the Chinese page.

Screenshots of a few pages go to $TWICEGRAD_SCREENSHOTS if it is set (to look at them).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.append(str(DOCS / "hooks"))  # appended: never shadows an installed module
import mdblocks  # noqa: E402
import performance  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LANGS = ["zh"]  # every language but the default one, which is built at the site's root


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return proc, out


def test_mkdocs_build_strict(site):
    proc, out = site
    assert proc.returncode == 0, proc.stderr[-5000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)
    assert (out / "index.html").exists()
    assert (out / "zh" / "index.html").exists()


def page_url(md: Path, lang: str | None) -> str:
    """The site path of a Markdown file (use_directory_urls), in the default language or ``lang``."""
    rel = md.relative_to(DOCS).as_posix()
    rel = re.sub(r"\.(zh)\.md$", ".md", rel)
    rel = rel[:-3]
    if rel == "index":
        path = ""
    elif rel.endswith("/index"):
        path = rel[:-5]
    else:
        path = rel + "/"
    return ("/" if lang is None else f"/{lang}/") + path


def expected_graphs() -> dict[str, set[str]]:
    """Site path -> the graph ids its Markdown asks for, for every language."""
    expected: dict[str, set[str]] = {}
    for md in sorted(DOCS.rglob("*.md")):
        if "hooks" in md.parts:
            continue
        ids = {b.attrs["id"] for b in mdblocks.iter_blocks(md.read_text(encoding="utf-8")) if b.language == "graph"}
        if md.name.endswith(".zh.md"):
            expected[page_url(md, "zh")] = ids
        else:
            expected[page_url(md, None)] = ids
            translated = md.with_name(md.name[:-3] + ".zh.md")
            if not translated.exists():  # the Chinese site falls back to the English page
                expected[page_url(md, "zh")] = ids
    return expected


def test_every_page_has_expected_graph_list(site):
    """The expected-graph list covers exactly the pages that were built (so none is missed)."""
    _, out = site
    built = {"/" + p.parent.relative_to(out).as_posix().strip(".") for p in out.rglob("index.html")}
    built = {b if b.endswith("/") else b + "/" for b in built}
    assert built == set(expected_graphs())


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    proc, out = site
    assert proc.returncode == 0, proc.stderr[-3000:]
    handler = functools.partial(_Quiet, directory=str(out))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: run scripts/setup.sh"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Watch:
    """A browser page that records console errors, page errors, failed and foreign requests."""

    def __init__(self, browser, base):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.problems: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("response", self._response)

    def _route(self, route):
        url = route.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.problems.append(f"request to another host: {url}")
            route.abort()

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def close(self):
        self.context.close()


def test_every_page_in_the_browser(server, browser):
    shots = os.environ.get("TWICEGRAD_SCREENSHOTS")
    expected = expected_graphs()
    watch = Watch(browser, server)
    page = watch.page
    report = []
    try:
        for path, ids in sorted(expected.items()):
            page.goto(server + path, wait_until="load")
            page.wait_for_load_state("networkidle")
            for gid in sorted(ids):
                fig = page.locator(f'figure.tg-graph[data-graph="{gid}"]')
                if fig.count() != 1:
                    report.append(f"{path}: graph {gid!r} found {fig.count()} times")
                    continue
                if fig.locator("svg g.node").count() == 0:
                    report.append(f"{path}: graph {gid!r} has no SVG nodes")
            if (path.endswith("performance/") and performance.load() is not None
                    and page.locator('figure.tg-chart[data-chart="benchmarks"] svg rect').count() == 0):
                report.append(f"{path}: the benchmark chart is missing")
            untyped = page.locator(".arithmatex").count() - page.locator(".arithmatex .katex").count()
            if untyped:
                report.append(f"{path}: {untyped} formulas not typeset by KaTeX")
            if page.locator("h1").count() == 0:
                report.append(f"{path}: no h1")
            if watch.problems:
                report += [f"{path}: {p}" for p in watch.problems]
                watch.problems.clear()
            if shots:
                name = path.strip("/").replace("/", "_") or "index"
                page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=False)
    finally:
        watch.close()
    assert not report, "\n".join(report)


def test_search_finds_retain_graph(server, browser):
    watch = Watch(browser, server)
    page = watch.page
    try:
        page.goto(server + "/", wait_until="load")
        page.locator("label.md-search__icon, .md-search__input").first.click()
        # typed key by key: Material searches on keyboard events
        page.locator("input.md-search__input").press_sequentially("retain_graph", delay=20)
        items = page.locator(".md-search-result__item")
        items.first.wait_for(state="visible", timeout=20000)
        links = [items.nth(i).locator("a").first.get_attribute("href") for i in range(items.count())]
        assert any("leaves-and-backward" in (h or "") for h in links), links
        assert not watch.problems, watch.problems
    finally:
        watch.close()


def test_language_switch_reaches_chinese_page(server, browser):
    watch = Watch(browser, server)
    page = watch.page
    try:
        page.goto(server + "/concepts/leaves-and-backward/", wait_until="load")
        assert page.locator("html").get_attribute("lang") == "en"
        page.locator(".md-header__option .md-select").first.hover()
        page.locator('a.md-select__link[hreflang="zh"]').click()
        page.wait_for_url("**/zh/concepts/leaves-and-backward/")
        assert page.locator("html").get_attribute("lang") == "zh"
        assert re.search(r"[\u4e00-\u9fff]", page.locator("h1").first.inner_text())
        # and back again
        page.locator(".md-header__option .md-select").first.hover()
        page.locator('a.md-select__link[hreflang="en"]').click()
        page.wait_for_url(re.compile(r".*/concepts/leaves-and-backward/$"))
        assert page.locator("html").get_attribute("lang") == "en"
        assert not watch.problems, watch.problems
    finally:
        watch.close()

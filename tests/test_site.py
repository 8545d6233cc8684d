"""The docs site, built and looked at as a reader would.

- ``mkdocs build --strict`` passes (into a temporary directory) and warns about nothing.
- The built site, served on 127.0.0.1, is opened page by page in headless Chromium
  (Debian's /usr/bin/chromium driven by Playwright; no browser is ever downloaded):
  no console errors, no request to any other host, no missing local file, every graph
  the Markdown asks for is there as an SVG, every formula typeset by KaTeX, site search
  finds "retain_graph" and Chinese words on the Chinese site, and the language switch
  leads to the Chinese page.
- Reading comfort, at 1280 and at 390 px wide, on every page: no page scrolls sideways;
  output lines (error messages) wrap inside their block; the copy button copies code
  without prompts or output; the dark palette toggle works; display equations fit (a long
  one is split over lines); a graph fits, using the page's side margins on a phone, unless
  even its floor size (labels at 12 px) is wider than the screen: then it scrolls inside
  its own box; graph
  labels are one font at 12 px or more; every graph has a legend; the benchmark chart's
  labels are whole and inside it.
- The headings of the translated pages keep the same anchors in both languages.

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

    def __init__(self, browser, base, width: int = 1280):
        self.base = base
        self.context = browser.new_context(viewport={"width": width, "height": 900})
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


# ---------------------------------------------------------------------------------
# Chinese search
# ---------------------------------------------------------------------------------

CHINESE_WORDS = ["张量", "双重反向", "损失项", "梯度累加"]


def zh_pages_with(word: str) -> set[str]:
    """Site paths of the Chinese pages whose Markdown contains ``word``."""
    return {page_url(md, "zh") for md in DOCS.rglob("*.zh.md") if word in md.read_text(encoding="utf-8")}


@pytest.mark.parametrize("word", CHINESE_WORDS)
def test_chinese_search_finds_words(server, browser, word):
    """jieba segments the Chinese pages at build time, so a Chinese word is a search term."""
    expected = zh_pages_with(word)
    assert expected, f"no Chinese page contains {word!r}: nothing to find"
    watch = Watch(browser, server)
    page = watch.page
    try:
        page.goto(server + "/zh/", wait_until="load")
        page.locator("label.md-search__icon, .md-search__input").first.click()
        page.locator("input.md-search__input").press_sequentially(word, delay=20)
        # Characters typed this way make no key events, which is what Material searches
        # on (an input method's final keystroke does make one): send one.
        page.keyboard.press("End")
        items = page.locator(".md-search-result__item")
        items.first.wait_for(state="visible", timeout=20000)
        found = set()
        for i in range(items.count()):
            href = items.nth(i).locator("a").first.get_attribute("href") or ""
            text = items.nth(i).inner_text().replace("\u200b", "")
            if word in text:
                found.add(urlparse(href).path)
        assert found & expected, f"{word}: results with the word {sorted(found)}, pages with it {sorted(expected)}"
        assert not watch.problems, watch.problems
    finally:
        watch.close()


# ---------------------------------------------------------------------------------
# Reading comfort, at a desktop width and a phone's
# ---------------------------------------------------------------------------------

PHONE = 390
WIDTHS = [1280, PHONE]
#: Graph labels are 12 pt in the SVG, 16 px at the picture's own size; never below 12 px.
MIN_LABEL_PX = 12
#: A display equation is set no smaller than this (docs/assets/javascripts/katex-init.js).
MIN_MATH_SCALE = "0.7em"

_COMFORT_JS = r"""() => {
  const report = [];
  const vw = window.innerWidth;
  if (document.documentElement.scrollWidth > vw) report.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px wide`);
  // output lines wrap inside their code block
  let outputs = 0;
  document.querySelectorAll('.highlight code').forEach(code => {
    const box = code.getBoundingClientRect();
    code.querySelectorAll('.tg-output').forEach(out => {
      outputs += 1;
      for (const r of out.getClientRects())
        if (r.right > box.right + 1) { report.push(`output line overflows its block: ${out.textContent.slice(0, 60)}`); break; }
    });
    if (code.querySelector('.gp') && code.dataset.copy === undefined) report.push('a console block was not prepared for copying');
  });
  // graphs: the visible drawing, label size and font, legend
  const graphs = [];
  document.querySelectorAll('figure.tg-graph').forEach(fig => {
    const svgs = [...fig.querySelectorAll('svg')].filter(s => s.getBoundingClientRect().width > 0);
    if (svgs.length !== 1) { report.push(`graph ${fig.dataset.graph}: ${svgs.length} drawings shown`); return; }
    const svg = svgs[0];
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    const texts = [...svg.querySelectorAll('text')];
    const sizes = texts.map(t => parseFloat(t.getAttribute('font-size')) * scale);
    const fonts = new Set(texts.map(t => t.getAttribute('font-family')));
    const drawing = fig.querySelector('.tg-graph__drawing');
    graphs.push({id: fig.dataset.graph, min: Math.min(...sizes), fonts: [...fonts],
                 legend: fig.querySelectorAll('details.tg-legend li').length,
                 inside: drawing.getBoundingClientRect().right <= vw + 1,
                 scrolls: drawing.scrollWidth > drawing.clientWidth + 1,
                 floor: parseFloat(svg.style.minWidth) || 0});
  });
  // display equations: fit, or at their floor size and scrolling in their own box
  const maths = [...document.querySelectorAll('.katex-display')].map(d => ({
    fits: d.scrollWidth <= d.clientWidth + 1, size: d.style.fontSize, inside: d.getBoundingClientRect().right <= vw + 1,
    tex: (d.querySelector('annotation') || {}).textContent}));
  return {report, outputs, graphs, maths};
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_reading_comfort(server, browser, width):
    expected = expected_graphs()
    watch = Watch(browser, server, width=width)
    page = watch.page
    report, outputs = [], 0
    try:
        for path in sorted(expected):
            page.goto(server + path, wait_until="load")
            page.wait_for_load_state("networkidle")
            page.evaluate("document.fonts.ready")
            # the display equations are refitted once KaTeX's fonts are in
            page.wait_for_function(f"""() => [...document.querySelectorAll('.katex-display')].every(
                d => d.scrollWidth <= d.clientWidth + 1 || d.style.fontSize === '{MIN_MATH_SCALE}')""", timeout=10000)
            got = page.evaluate(_COMFORT_JS)
            report += [f"{width}px {path}: {p}" for p in got["report"]]
            outputs += got["outputs"]
            for g in got["graphs"]:
                where = f"{width}px {path} graph {g['id']}"
                if g["min"] < MIN_LABEL_PX - 0.05:
                    report.append(f"{where}: labels {g['min']:.1f} px")
                if g["fonts"] != ["monospace"]:
                    report.append(f"{where}: fonts {g['fonts']}")
                if g["legend"] < 3:
                    report.append(f"{where}: no legend")
                if not g["inside"]:
                    report.append(f"{where}: the drawing's box leaves the screen")
                if width == PHONE and g["scrolls"] and g["floor"] <= width:  # it may use the page's margins
                    report.append(f"{where}: scrolls in its box, though its floor ({g['floor']:.0f} px) fits the screen")
            for m in got["maths"]:
                if not m["inside"]:
                    report.append(f"{width}px {path}: equation box leaves the screen: {m['tex']}")
                if not m["fits"] and m["size"] != MIN_MATH_SCALE:
                    report.append(f"{width}px {path}: equation neither fits nor is at its floor size: {m['tex']}")
                if not m["fits"]:  # a long one is split over lines (aligned, gathered)
                    report.append(f"{width}px {path}: equation scrolls in its box: {m['tex']}")
            report += [f"{width}px {path}: {p}" for p in watch.problems]
            watch.problems.clear()
    finally:
        watch.close()
    assert outputs > 50, f"only {outputs} output lines seen: is console-blocks.js running?"
    assert not report, "\n".join(report)


def _console_code(markdown_block_source: str) -> str:
    """What copying a console block should give: its code lines, without prompts."""
    lines = []
    for line in markdown_block_source.splitlines():
        if line.startswith((">>> ", "... ")):
            lines.append(line[4:])
        elif line in (">>>", "..."):
            lines.append("")
    return "\n".join(lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_copy_button_copies_code_only(server, browser, width):
    md = DOCS / "how-it-works.md"
    blocks = [b for b in mdblocks.iter_blocks(md.read_text(encoding="utf-8")) if b.language == "pycon"]
    wanted = _console_code(blocks[0].source)
    # the first block has output lines ("AddBackward0"), which copying must leave out
    assert ">>>" not in wanted and "z.grad_fn.name()" in wanted and "AddBackward0" not in wanted
    watch = Watch(browser, server, width=width)
    watch.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = watch.page
    try:
        page.goto(server + page_url(md, None), wait_until="load")
        block = page.locator(".highlight:has(.gp)").first
        block.scroll_into_view_if_needed()
        block.hover()
        block.locator('button.md-code__button[data-md-type="copy"]').click()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.rstrip("\n") == wanted
        assert not watch.problems, watch.problems
    finally:
        watch.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_dark_palette_toggle(server, browser, width):
    watch = Watch(browser, server, width=width)
    page = watch.page
    try:
        page.goto(server + "/zh/how-it-works/", wait_until="load")
        body = page.locator("body")
        assert body.get_attribute("data-md-color-scheme") == "default"
        light = page.evaluate("getComputedStyle(document.body).backgroundColor")
        page.locator('form[data-md-component="palette"] label:visible').first.click()
        page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'")
        dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert dark != light
        page.locator('form[data-md-component="palette"] label:visible').first.click()
        page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'")
        assert not watch.problems, watch.problems
    finally:
        watch.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_benchmark_chart_labels_are_whole(server, browser, width):
    data = performance.load()
    assert data is not None, "benchmarks/results.json is missing: run the benchmarks"
    # the page's first chart: every timed workload but the GC recipe's, as its block says
    labels = [performance._label(r["case"], "en", r["description"]) for r in performance.rows(data, exclude="gc_dag")]
    watch = Watch(browser, server, width=width)
    page = watch.page
    try:
        page.goto(server + "/performance/", wait_until="load")
        got = page.evaluate("""() => {
          const svg = document.querySelector('figure.tg-chart svg'), vb = svg.viewBox.baseVal;
          const out = [...svg.querySelectorAll('text')].filter(t => {
            const b = t.getBBox();
            return b.x < vb.x - 0.5 || b.y < vb.y - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 || b.y + b.height > vb.y + vb.height + 0.5;
          }).map(t => t.textContent);
          const rows = [...svg.querySelectorAll('text')].filter(t => t.querySelector('tspan'))
            .map(t => [...t.querySelectorAll('tspan')].map(s => s.textContent).join(' '));
          const r = svg.getBoundingClientRect();
          return {out, rows, right: r.right, vw: window.innerWidth};
        }""")
        assert not got["out"], f"chart text outside the chart: {got['out']}"
        assert got["rows"] == labels, got["rows"]
        assert got["right"] <= got["vw"] + 1
        assert not watch.problems, watch.problems
    finally:
        watch.close()


# ---------------------------------------------------------------------------------
# Stable anchors: the language switch keeps the reader's place
# ---------------------------------------------------------------------------------

#: Every page with a Chinese twin, so that the language switch keeps the reader's place
#: (but the API reference: its Chinese page says, in Chinese, that it is English-only).
STABLE_ANCHOR_PAGES = sorted(
    str(md.relative_to(DOCS)) for md in DOCS.rglob("*.md")
    if not md.name.endswith(".zh.md") and md.with_name(md.name[:-3] + ".zh.md").exists() and md.name != "api.md"
)


@pytest.mark.parametrize("name", STABLE_ANCHOR_PAGES)
def test_headings_keep_their_anchors_in_chinese(site, name):
    _, out = site
    en_md = DOCS / name
    assert en_md.with_name(en_md.name[:-3] + ".zh.md").exists()

    def heading_ids(path: str) -> list[str]:
        text = (out / path.strip("/") / "index.html").read_text(encoding="utf-8")
        article = text[text.index('<article'):text.index('</article>')]
        return re.findall(r'<h[2-4] id="([^"]+)"', article)

    en_ids = heading_ids(page_url(en_md, None))
    zh_ids = heading_ids(page_url(en_md, "zh"))
    assert en_ids, f"{name} has no headings"
    assert zh_ids == en_ids
    assert not [i for i in zh_ids if re.fullmatch(r"_\d*", i)], zh_ids

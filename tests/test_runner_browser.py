"""The Run buttons, in Debian's headless Chromium: Pyodide and viz.js served by the site.

The site is built and served by tests/test_site.py's fixtures (imported); each page is
opened through its ``Watch``, which fails on a console error, a missing file or any
request off 127.0.0.1.

- No page loads Pyodide before a Run button is clicked, and every engine block of the
  Markdown (and every exercise) got its button; the only engine blocks without one are
  listed in ``STATIC``, with the reason (Build it yourself has none: its mini engines
  run in the browser).
- On every page with runnable blocks, in both languages, running the last block runs
  all the earlier ones first, and each block's output is the block as the page prints
  it (doctest's comparison: whitespace normalised, a traceback's middle skipped).
- The failing second backward, edited to ``retain_graph=True``, runs and gives torch's
  gradient.
- A graph's code, edited, redraws the figure with viz.js; a block that ends in
  ``make_dot`` shows the SVG under it.
- A step-through player's code, edited, replays the player with the edited program's
  steps (issue 15's seam, ``window.twicegradPlayer.replaceSteps``); Reset restores it.
- An exercise checked with its reference solution is graded right, one left as it
  starts is graded wrong.
- The API page's docstring examples run too, each docstring in its module's globals.

Without a browser (plain CPython): the runner's transcripts equal every page's output,
and engine.viz draws through a renderer with neither the graphviz package nor ``dot``.
"""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent))  # test_site, beside this file
from test_site import DOCS, ROOT, Watch, browser, page_url, server, site  # noqa: F401

sys.path.append(str(DOCS / "hooks"))  # appended: never shadows an installed module
import mdblocks
import runner
import runner_session

LOAD_TIMEOUT = 180_000  # ms: a cold Pyodide start on a busy two-core machine


def _pages() -> list[tuple[Path, str]]:
    """(Markdown file, site path) of every page with a runnable block, both languages."""
    out = []
    for md in sorted(DOCS.rglob("*.md")):
        if "hooks" in md.parts:
            continue
        if _runnable_blocks(md):
            out.append((md, page_url(md, "zh" if md.name.endswith(".zh.md") else None)))
    return out


def _runnable_blocks(md: Path) -> list[mdblocks.Block]:
    """The blocks the page's Run buttons run (mdblocks.browser_runnable: the engine blocks
    that need neither torch nor processes, nor a name such a block bound)."""
    return mdblocks.browser_runnable(mdblocks.iter_blocks(md.read_text(encoding="utf-8")))


#: The engine blocks that stay static on purpose: (page, section anchor) -> (how many, why).
#: The page says why in a sentence too. Every other engine block gets a Run button.
STATIC = {
    ("error-clinic", "reference-cycle"): (1, "starts a new Python: the warning fires once per process"),
    ("error-clinic", "scalar-conversion"): (1, "starts a new Python: the warning fires once per process"),
    ("error-clinic", "viz-package"): (1, "hides the graphviz package and dot, which a browser page never has"),
    ("error-clinic", "viz-renderer"): (2, "hides graphviz and swaps the renderer the page draws with"),
}
_ANCHOR = re.compile(r"^#+ .*\{ *#(?P<anchor>[\w-]+)", re.M)


def _static_engine_blocks(md: Path) -> dict[str, int]:
    """Section anchor -> how many of its engine blocks get no Run button."""
    text = md.read_text(encoding="utf-8")
    blocks = mdblocks.iter_blocks(text)
    runnable = {b.start for b in mdblocks.browser_runnable(blocks)}
    out: dict[str, int] = {}
    for b in blocks:
        if b.language in ("pycon", "python") and mdblocks.namespace_of(b) == "engine" and b.start not in runnable:
            anchors = [m.group("anchor") for m in _ANCHOR.finditer(text, 0, b.start)]
            section = anchors[-1] if anchors else ""
            out[section] = out.get(section, 0) + 1
    return out


def normalise(text: str, keep_ellipsis: bool = False) -> list[str]:
    """Lines compared as doctest compares them (NORMALIZE_WHITESPACE), a traceback
    reduced to its header and its last line; ``...`` lines dropped, or kept (for the
    page's side) so that ``same_transcript`` can match them as doctest's ELLIPSIS does."""
    out = []
    lines = text.splitlines()
    i = 0
    in_source = False  # after a ">>>" line, "..." lines continue the statement
    while i < len(lines):
        line = lines[i].rstrip()
        i += 1
        if line.startswith("Traceback (most recent call last):"):
            out.append(line)
            in_source = False
            while i < len(lines) and (lines[i][:1] in (" ", "\t") or lines[i].strip() in ("", "...")):
                i += 1
            continue
        if line in ("The above exception was the direct cause of the following exception:",
                    "During handling of the above exception, another exception occurred:"):
            del out[-2:]  # a chained exception: doctest compares only the last one
            continue
        if line.startswith(">>>"):
            in_source = True
        elif not (in_source and line.startswith("...")):
            in_source = False
        if line.strip() == "...":
            if keep_ellipsis and not in_source:
                out.append("...")
        elif line.strip():
            out.append(" ".join(line.split()))
    return out


def same_transcript(shown: str, page: str) -> bool:
    """What a block printed equals what the page prints, as doctest would judge it: a
    ``...`` line on the page (say, under a warning's traceback) stands for any lines."""
    want = "\n".join(normalise(page, keep_ellipsis=True)) + "\n"
    got = "\n".join(normalise(shown)) + "\n"
    return doctest.OutputChecker().check_output(want, got, doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)


# ---------------------------------------------------------------------------------
# Without a browser
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("md", [md for md, _ in _pages()], ids=lambda md: md.relative_to(DOCS).as_posix())
def test_session_transcripts_equal_the_page(md):
    session = runner_session.Session()
    for block in _runnable_blocks(md):  # the static blocks never run, as in the browser
        where = f"{md.name}:{block.line}"
        if block.language == "pycon":
            parts = session.run_examples(runner_session.split_transcript(block.source), where)
            shown = "".join(text for kind, text in parts if kind == "text")
            assert same_transcript(shown, block.source), f"{where}:\n{shown}"
        else:
            shown = session.run_code(block.source, where)
            assert "Traceback" not in shown, f"{where}: {shown}"


@pytest.mark.parametrize("md", [md for md in sorted(DOCS.rglob("*.md")) if "hooks" not in md.parts],
                         ids=lambda md: md.relative_to(DOCS).as_posix())
def test_every_engine_block_gets_a_run_button_but_the_listed_ones(md):
    page = md.name.removesuffix(".md").removesuffix(".zh")
    want = {anchor: n for (name, anchor), (n, _why) in STATIC.items() if name == page}
    assert _static_engine_blocks(md) == want


def test_build_it_yourself_runs_in_the_browser():
    """Its mini engines are torch-free: every block runs, PyTorch's results are in static tabs."""
    pages = [md.name for md, _ in _pages()]
    assert "build-it-yourself.md" in pages and "build-it-yourself.zh.md" in pages
    blocks = _runnable_blocks(DOCS / "build-it-yourself.md")
    assert len(blocks) >= 16 and any("class Value" in b.source for b in blocks)


def _engine_docstring_tests():
    import doctest
    import importlib
    import pkgutil
    import engine
    names = ["engine"] + [f"engine.{m.name}" for m in pkgutil.iter_modules(engine.__path__)]
    finder = doctest.DocTestFinder()
    return [t for name in names for t in finder.find(importlib.import_module(name)) if t.examples]


@pytest.mark.parametrize("test", _engine_docstring_tests(), ids=lambda t: t.name)
def test_session_runs_docstring_examples_as_doctest(test):
    """The API page's blocks: each docstring's examples in its module's globals."""
    session = runner_session.Session.for_object(test.name)
    parts = session.run_examples([ex.source for ex in test.examples], test.name)
    shown = "".join(text for kind, text in parts if kind == "text")
    printed = "".join(runner_session.format_example(ex.source) + ex.want for ex in test.examples)
    assert same_transcript(shown, printed), shown


def test_session_traceback_is_cpythons():
    session = runner_session.Session()
    parts = session.run_examples(["def f():\n    return 1 / 0\n", "f()\n"], "<block 1>")
    text = parts[0][1]
    assert text.startswith(">>> def f():\n...     return 1 / 0\n>>> f()\nTraceback (most recent call last):\n")
    assert 'File "<block 1>", line 1, in <module>' in text and "return 1 / 0" in text
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "runner_session" not in text  # the runner's own frame is left out


@pytest.mark.parametrize("run", [runner_session.run_graph, runner_session.run_player], ids=lambda f: f.__name__)
def test_graph_and_player_code_errors_show_the_readers_code_only(run):
    kind, text = run("x = 1\n1 / 0\nx\n", name="<edited>")
    assert kind == "text" and text.startswith("Traceback (most recent call last):\n"), text
    assert 'File "<edited>", line 2, in <module>' in text and "1 / 0" in text
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "runner_session" not in text  # the runner's own frames are left out
    kind, text = run("x = 1\nx\n", name="<edited>")
    assert kind == "text" and text.startswith("TypeError: the last line must give a "), text


def test_viz_draws_through_a_renderer_without_graphviz():
    """With graphviz hidden, make_dot/draw_dot build the same DOT text as graphviz does,
    and render_svg hands it to the renderer (here Graphviz's dot, run by hand)."""
    code = r"""
import sys
from engine import Value, grad
import engine.viz as viz
w = Value(3.0, requires_grad=True, name="w")
loss = (w * w).sin() + w.exp()
dl, = grad(loss, w, create_graph=True)
with viz.record_backward() as trace:
    (w * w * 2.0).backward()
player = viz.Player(trace)
def drawings():
    return [viz.make_dot(dl, params={"w": w}, show_saved=True).source,
            viz.draw_dot(loss, params={"loss": loss}).source,
            player.dot(len(player) - 1).source]            # a player's frame, as the page's seam draws it
with_graphviz = drawings()
sys.modules["graphviz"] = None          # import graphviz now fails
try:
    viz.make_dot(dl)
except ImportError:
    pass
else:
    raise AssertionError("make_dot worked without graphviz and without a renderer")
import subprocess
viz.set_renderer(lambda src: subprocess.run(["dot", "-Tsvg"], input=src, capture_output=True, text=True, check=True).stdout)
without = drawings()
svg = viz.render_svg(viz.make_dot(dl, params={"w": w}))
assert "CosBackward0" in svg and "<svg" in svg, svg[:200]
def plain(src):
    return subprocess.run(["dot", "-Tplain"], input=src, capture_output=True, text=True, check=True).stdout
import re
ids = lambda s: re.sub(r"\b\d{6,}\b", "ID", s)
for a, b in zip(with_graphviz, without):
    assert ids(plain(a)) == ids(plain(b)), (a, b)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_free_graphs_iteratively_frees_deep_graphs():
    """The browser's shim (Pyodide's JavaScript stack is small): deep graphs are freed,
    by a loop, and the engine still gives what it gave, every page's transcript
    included. In a process of its own: the shim changes engine.value.Node."""
    code = r"""
import gc, sys
sys.path.append("docs/hooks")
sys.setrecursionlimit(1000)
import runner_session
runner_session.free_graphs_iteratively()
from engine import Value, grad
def alive():
    gc.collect()
    return sum(type(o).__name__ in ("MulBackward0", "SinBackward0") for o in gc.get_objects())
x = Value(1.0, requires_grad=True)
y = x
for _ in range(200_000):
    y = (y * 1.0001).sin()
assert alive() == 400_000, alive()
d, = grad(y, x, create_graph=True)
del y, d
assert alive() == 0, alive()
sys.path.insert(0, "tests")
import test_runner_browser as t
for md, _ in t._pages():
    t.test_session_transcripts_equal_the_page(md)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_set_renderer_rejects_a_non_callable():
    from engine import viz
    with pytest.raises(TypeError, match="render must be callable"):
        viz.set_renderer("dot")


def test_hook_marks_exactly_the_engine_blocks(site):
    proc, out = site
    assert proc.returncode == 0, proc.stderr[-3000:]
    for md, path in _pages():
        text = md.read_text(encoding="utf-8")
        want = len(_runnable_blocks(md))
        exercises = sum(1 for b in mdblocks.iter_blocks(text) if b.language == "exercise")
        built = (out / path.strip("/") / "index.html").read_text(encoding="utf-8")
        assert built.count('data-tg="run"') == want, path
        assert built.count('data-tg="exercise"') == exercises, path
    for name in ("pyodide/pyodide.js", "pyodide/pyodide.asm.wasm", "pyodide/python_stdlib.zip",
                 "viz/viz-global.js", "engine/value.py", "runner_session.py", "manifest.json"):
        assert (out / "assets" / "runner" / name).is_file(), name
    for py in (ROOT / "engine").glob("*.py"):
        assert (out / "assets" / "runner" / "engine" / py.name).read_bytes() == py.read_bytes(), py.name


# ---------------------------------------------------------------------------------
# In the browser
# ---------------------------------------------------------------------------------

def _open(watch: Watch, path: str):
    page = watch.page
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(watch.base + path, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, requests


def _run(page, selector: str, index: int = -1, button: str = ".tg-run-button") -> None:
    """Click a block's button (dispatched, so a block in a hidden tab works too) and wait."""
    page.locator(selector).nth(index).evaluate(
        "(div, button) => { div.removeAttribute('data-tg-state'); div.nextElementSibling.querySelector(button).click(); }",
        button)
    page.wait_for_function(
        "([sel, i]) => { const all = document.querySelectorAll(sel); const d = all[i < 0 ? all.length + i : i];"
        " return d && ['done', 'failed'].includes(d.getAttribute('data-tg-state')); }",
        arg=[selector, index], timeout=LOAD_TIMEOUT)


def _set_code(page, selector: str, index: int, text: str) -> None:
    page.locator(selector).nth(index).locator("pre > code").evaluate("(code, t) => { code.textContent = t; }", text)


def _problems(watch: Watch) -> list[str]:
    return [p for p in watch.problems]


@pytest.mark.parametrize("md, path", _pages(), ids=[p for _, p in _pages()])
def test_every_block_runs_as_printed(server, browser, md, path):
    watch = Watch(browser, server)
    try:
        page, requests = _open(watch, path)
        assert not [u for u in requests if "/assets/runner/" in u], "the runner loaded before any click"
        assert page.evaluate("typeof window.loadPyodide") == "undefined"
        assert page.locator(".tg-runner-note").count() == 1
        blocks = page.locator('div[data-tg="run"]')
        count = blocks.count()
        originals = [blocks.nth(i).locator("pre > code").evaluate("c => c.textContent") for i in range(count)]
        _run(page, 'div[data-tg="run"]', -1)  # the last block: every earlier one runs first
        report = []
        for i in range(count):
            div = blocks.nth(i)
            state = div.get_attribute("data-tg-state")
            shown = div.evaluate("d => d.nextElementSibling.nextElementSibling.innerText")
            if state != "done":
                report.append(f"block {i + 1}: state {state}: {shown}")
            elif div.get_attribute("data-tg-lang") == "pycon":
                if not same_transcript(shown, originals[i]):
                    report.append(f"block {i + 1}: shown\n{shown}\nprinted\n{originals[i]}")
            elif "Traceback" in shown:
                report.append(f"block {i + 1}: {shown}")
        assert not report, "\n".join(report)
        assert any("/assets/runner/pyodide/pyodide.asm.wasm" in u for u in requests)
        assert not _problems(watch), _problems(watch)
    finally:
        watch.close()


def test_api_page_examples_run_as_printed(server, browser):
    """Each docstring's examples run in a copy of its module's globals, as doctest runs them."""
    watch = Watch(browser, server)
    try:
        page, _requests = _open(watch, "/api/")
        sel = 'div[data-tg="api"]'
        count = page.locator(sel).count()
        assert count >= 20, count
        originals = page.locator(sel).evaluate_all("ds => ds.map(d => d.querySelector('pre > code').textContent)")
        report = []
        for i in range(count):
            if page.locator(sel).nth(i).get_attribute("data-tg-state") != "done":
                _run(page, sel, i)
            div = page.locator(sel).nth(i)
            shown = div.evaluate("d => d.nextElementSibling.nextElementSibling.innerText")
            if div.get_attribute("data-tg-state") != "done" or not same_transcript(shown, originals[i]):
                report.append(f"example block {i + 1}: shown\n{shown}\nprinted\n{originals[i]}")
        assert not report, "\n".join(report)
        assert not _problems(watch), _problems(watch)
    finally:
        watch.close()


def test_edit_retain_graph_and_draw(server, browser):
    import torch
    x = torch.tensor(1.0, requires_grad=True)
    z = x * torch.tensor(2.0)
    z.backward(retain_graph=True)
    z.backward()
    expected_grad = f"Value({x.grad.item()!r})"

    watch = Watch(browser, server)
    try:
        page, _ = _open(watch, "/concepts/leaves-and-backward/")
        sel = 'div[data-tg="run"]'
        texts = page.locator(sel).evaluate_all("ds => ds.map(d => d.querySelector('pre > code').textContent)")
        i = next(k for k, t in enumerate(texts) if "backward through the graph a second time" in t)
        edited = texts[i].replace(">>> z.backward()", ">>> z.backward(retain_graph=True)", 1)
        edited = edited[:edited.index("Traceback")] + ">>> x.grad\n"
        _set_code(page, sel, i, edited)
        _run(page, sel, i)
        shown = page.locator(sel).nth(i).evaluate("d => d.nextElementSibling.nextElementSibling.innerText")
        assert "Traceback" not in shown, shown
        assert normalise(shown)[-2:] == [">>> x.grad", expected_grad], shown
        # Reset brings the printed block back
        page.locator(sel).nth(i).evaluate("d => d.nextElementSibling.querySelector('.tg-reset-button').click()")
        assert page.locator(sel).nth(i).locator("pre > code").text_content() == texts[i]

        # a pycon block that ends in make_dot shows the drawing under it
        _set_code(page, sel, i, ">>> from engine.viz import make_dot\n>>> make_dot(z * z, params={'x': x})\n")
        _run(page, sel, i)
        drawn = page.locator(sel).nth(i).evaluate(
            "d => { const s = d.nextElementSibling.nextElementSibling.querySelector('.tg-svg svg');"
            " return s ? [s.querySelectorAll('g.node').length, s.textContent] : [0, d.nextElementSibling.nextElementSibling.innerText]; }")
        assert drawn[0] > 0 and "MulBackward0" in drawn[1], drawn

        # a graph's code, edited, redraws its figure
        fig = page.locator('figure.tg-graph[data-graph="leaves-backward"]')
        assert "AddBackward0" not in fig.locator("svg").text_content()
        code_sel = 'div[data-tg="graph-code"]'
        codes = page.locator(code_sel).evaluate_all("ds => ds.map(d => d.querySelector('pre > code').textContent)")
        k = next(n for n, t in enumerate(codes) if "make_dot(z" in t)
        _set_code(page, code_sel, k, codes[k].replace("z = x * y", "z = x * y + x"))
        _run(page, code_sel, k)
        assert page.locator(code_sel).nth(k).get_attribute("data-tg-state") == "done"
        assert fig.locator("svg g.node").count() > 0
        assert "AddBackward0" in fig.locator("svg").text_content()
        assert not _problems(watch), _problems(watch)
    finally:
        watch.close()


@pytest.mark.parametrize("path, lang", [("/concepts/leaves-and-backward/", "en"),
                                        ("/zh/concepts/leaves-and-backward/", "zh")])
def test_edited_player_code_replays_the_player(server, browser, path, lang):
    """The code under a step-through player, edited and run, replays the player with the
    edited program's steps (drawn by viz.js, captioned in the page's language, as CPython
    cuts the same trace); Reset brings back the steps drawn at build time."""
    watch = Watch(browser, server)
    try:
        page, _ = _open(watch, path)
        fig = page.locator('figure.tg-player[data-player="used-twice"]')
        built_steps = int(fig.get_attribute("data-steps"))
        built_first = fig.locator(".tg-player__text").first.text_content()
        sel = 'div[data-tg="player-code"]'
        codes = page.locator(sel).evaluate_all("ds => ds.map(d => d.querySelector('pre > code').textContent)")
        k = next(n for n, t in enumerate(codes) if "z = x * y + x" in t)
        second_call = codes[k][codes[k].index("    try:"):codes[k].index("trace\n", codes[k].index("    try:"))]
        edited = codes[k].replace(second_call, "").replace("z = x * y + x", "z = x * y * x")
        kind, want = runner_session.run_player(edited, lang)
        assert kind == "steps" and len(want) != built_steps, want
        assert "MulBackward0" in want[1]["caption"] and "AddBackward0" not in "".join(w["dot"] for w in want)

        _set_code(page, sel, k, edited)
        _run(page, sel, k)
        assert page.locator(sel).nth(k).get_attribute("data-tg-state") == "done", \
            page.locator(sel).nth(k).evaluate("d => d.nextElementSibling.nextElementSibling.innerText")
        assert fig.get_attribute("data-steps") == str(len(want))
        steps = fig.locator(".tg-player__step")
        assert [t.strip() for t in steps.locator(".tg-player__text").all_text_contents()] == \
            [w["caption"].strip() for w in want]
        for i in range(len(want)):
            assert steps.nth(i).locator("svg g.node").count() > 0, f"step {i + 1} is not drawn"
        assert fig.get_attribute("data-current") == "1"
        assert "AddBackward0" not in fig.locator(".tg-player__steps").text_content()

        # an edit that fails shows its traceback and leaves the player alone
        _set_code(page, sel, k, edited.replace("trace\n", "tracee\n"))
        _run(page, sel, k)
        assert page.locator(sel).nth(k).get_attribute("data-tg-state") == "failed"
        shown = page.locator(sel).nth(k).evaluate("d => d.nextElementSibling.nextElementSibling.textContent")
        assert "NameError: name 'tracee' is not defined" in shown, shown
        assert fig.get_attribute("data-steps") == str(len(want))

        page.locator(sel).nth(k).evaluate("d => d.nextElementSibling.querySelector('.tg-reset-button').click()")
        assert fig.get_attribute("data-steps") == str(built_steps)
        assert fig.locator(".tg-player__text").first.text_content() == built_first
        assert not _problems(watch), _problems(watch)
    finally:
        watch.close()


@pytest.mark.parametrize("path, md", [("/concepts/custom-functions/", "custom-functions.md"),
                                      ("/zh/concepts/loss-terms/", "loss-terms.zh.md")])
def test_exercises_are_graded(server, browser, path, md):
    text = (DOCS / "concepts" / md).read_text(encoding="utf-8")
    exercises = [(b.attrs["id"], runner.parse_exercise(b.source)) for b in mdblocks.iter_blocks(text)
                 if b.language == "exercise"]
    watch = Watch(browser, server)
    try:
        page, _ = _open(watch, path)
        sel = 'div[data-tg="exercise"]'
        assert page.locator(sel).count() == len(exercises)
        assert page.locator('div[data-tg="solution"]').count() == len(exercises)
        assert not page.locator('div[data-tg="solution"]').first.is_visible()  # hidden until asked
        _first_id, first = exercises[0]
        _set_code(page, sel, 0, first["solution"])
        _run(page, sel, 0, ".tg-check-button")
        assert page.locator(sel).nth(0).get_attribute("data-tg-grade") == "right", \
            page.locator(sel).nth(0).evaluate("d => d.nextElementSibling.nextElementSibling.innerText")
        _run(page, sel, 1, ".tg-check-button")  # as it starts: not answered yet
        assert page.locator(sel).nth(1).get_attribute("data-tg-grade") == "wrong"
        verdict = page.locator(sel).nth(1).evaluate("d => d.nextElementSibling.nextElementSibling.innerText")
        assert re.search(r"Not yet|还不对", verdict), verdict
        _set_code(page, sel, 0, exercises[0][1]["wrong"])
        _run(page, sel, 0, ".tg-check-button")
        assert page.locator(sel).nth(0).get_attribute("data-tg-grade") == "wrong"
        assert not _problems(watch), _problems(watch)
    finally:
        watch.close()

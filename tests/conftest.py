"""What every test run shares: the ``differ`` fixture and the markers of the fast loop.

The ``differ`` fixture hands out the differential harness of tests/differential.py:
``differ.check(prog)`` runs ``prog(B, rec)`` on torch (the oracle) and on the engine and
compares what the two recorded; ``differ.same_on_both(case)`` does the same for a
``case(B)`` that returns what it saw.  torch is imported when a test asks for it, not
before, so a torch-free run never loads it.

Markers (registered in pyproject.toml) are put on items automatically, so a new test
file is marked without being edited:

- ``torch``: the test uses the ``differ`` fixture, its module imports torch (or the
  harness) at the top or is a ``test_core_*`` module, or it is a docs example in a
  "PyTorch" tab;
- ``browser``: its module imports Playwright (headless Chromium) or has "browser" in its
  name, or it uses a ``browser`` fixture (also ``slow``);
- ``slow``: its module is one of ``SLOW_MODULES`` below, or the test one of
  ``SLOW_TESTS`` (each takes seconds: a docs build, subprocesses, million-node graphs).

``-m "not torch and not slow and not browser"`` (``./scripts/test.sh --quick``) is the
fast loop; test modules it would deselect whole are not even imported.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

#: Modules whose every test is slow (seconds each), by file name.
SLOW_MODULES = {
    "test_site.py",            # builds the whole docs site, then drives a browser through it
    "test_examples.py",        # runs every example program, on both libraries
    "test_benchmark_smoke.py",  # runs the benchmark script
    "test_core_deep.py",       # million-node graphs, in subprocesses
    "test_core_memory.py",     # subprocesses that count live objects
    "test_doctests.py",        # fresh interpreters and a fresh virtualenv
    "test_compile.py",         # compiles the engine's source in fresh interpreters
    "test_markers.py",         # runs pytest itself, in subprocesses
}
#: Single tests that take several seconds in otherwise quick modules, by function name.
SLOW_TESTS = {
    "test_100k_chain_draws_summarised_without_recursion_error",  # test_viz.py
    "test_micrograd_demo_trains_step_for_step_like_micrograd",   # test_nn.py
    "test_reference_cycle_warning_once_per_process",         # test_core_accumulate.py, a subprocess
}
MARKERS = ("torch", "browser", "slow")
collect_ignore = ["differential.py"]  # the harness: no tests, no doctests, imports torch
_TORCH_MODULES = {"torch", "differential"}


def _top_level_imports(path: Path) -> set[str]:
    """The top-level packages a module imports at module level (read, not run)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Try):  # try: import torch / except ImportError: ...
            for inner in node.body:
                if isinstance(inner, ast.Import):
                    names.update(a.name.split(".")[0] for a in inner.names)
                elif isinstance(inner, ast.ImportFrom) and inner.module and not inner.level:
                    names.add(inner.module.split(".")[0])
    return names


_MODULE_MARKERS: dict[Path, set[str]] = {}


def module_markers(path: Path) -> set[str]:
    """The markers every test of the test module at ``path`` gets."""
    if path not in _MODULE_MARKERS:
        imports = _top_level_imports(path)
        marks = set()
        if imports & _TORCH_MODULES or path.name.startswith("test_core_"):  # (grad mode checked in both)
            marks.add("torch")
        if "playwright" in imports or "browser" in path.stem:
            marks.update(("browser", "slow"))
        if path.name in SLOW_MODULES:
            marks.add("slow")
        _MODULE_MARKERS[path] = marks
    return _MODULE_MARKERS[path]


_IMPORTS_TORCH = re.compile(r"^(?:>>> )?\s*(?:import torch\b|from torch\b)", re.M)
_TORCH_PAGES: dict[str, bool] = {}


def page_needs_torch(path) -> bool:
    """Whether a docs page's own (twicegrad) code imports torch, to compare with it in
    the snippet itself (build-it-yourself does): then every example of the page needs
    torch, since later examples use the names that code defined."""
    key = str(path)
    if key not in _TORCH_PAGES:
        import sys

        hooks = str(Path(__file__).resolve().parents[1] / "docs" / "hooks")
        if hooks not in sys.path:
            sys.path.append(hooks)  # appended: never shadows an installed module
        import mdblocks

        text = Path(key).read_text(encoding="utf-8")
        _TORCH_PAGES[key] = any(mdblocks.namespace_of(b) == "engine" and _IMPORTS_TORCH.search(b.source)
                                for b in mdblocks.iter_blocks(text))
    return _TORCH_PAGES[key]


def item_markers(item) -> set[str]:
    marks = set()
    path = Path(str(item.path))
    if path.suffix == ".py" and path.name.startswith("test_"):
        marks |= module_markers(path)
    if getattr(item, "originalname", item.name) in SLOW_TESTS:
        marks.add("slow")
    fixtures = getattr(item, "fixturenames", ())
    if "differ" in fixtures:
        marks.add("torch")
    if "browser" in fixtures:  # (not "page": a parameter may bear that name, as in test_docs_pairs)
        marks.update(("browser", "slow"))
    example = getattr(item, "example", None)  # a docs example, collected by Sybil
    if example is not None and (example.region.lexemes or {}).get("namespace") == "torch":
        marks.add("torch")  # (its page's other examples never see its names: a namespace of its own)
    if example is not None and page_needs_torch(example.document.path):
        marks.add("torch")
    return marks


def pytest_collection_modifyitems(config, items):
    for item in items:
        for name in sorted(item_markers(item) - {m.name for m in item.iter_markers()}):
            item.add_marker(name)


_WORD = re.compile(r"\b(?!(?:and|or|not)\b)[A-Za-z_]\w*\b")


def _selects(markexpr: str, markers: set[str]) -> bool:
    """Whether ``-m markexpr`` selects an item carrying exactly ``markers``."""
    code = _WORD.sub(lambda m: str(m.group() in markers), markexpr)
    try:
        return bool(eval(code, {"__builtins__": {}}))  # only True/False/and/or/not/()
    except Exception:  # an expression this cannot read: collect everything
        return True


def pytest_ignore_collect(collection_path, config):
    """With ``-m`` deselecting a whole test module, do not even import it (so
    ``-m "not torch"`` never imports torch)."""
    markexpr = config.getoption("markexpr", "")
    if not markexpr or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    marks = module_markers(collection_path)
    if marks and not _selects(markexpr, marks) and not _selects(markexpr, marks | set(MARKERS)):
        return True
    return None


# ---------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------

@pytest.fixture
def differ():
    """The differential-testing toolkit (``differ.check(prog)`` and friends)."""
    from types import SimpleNamespace

    import differential as d

    return SimpleNamespace(
        check=d.check, run_both=d.run_both, same=d.same, same_float=d.same_float, torch=d.torch, engine=d.engine,
        Value=d.Value, as_value_message=d.as_value_message, run_python=d.run_python, T=d.TorchBackend,
        E=d.EngineBackend, BACKENDS=d.BACKENDS, describe_diff=d.describe_diff, ANY_NODE=d.ANY_NODE,
        same_on_both=d.same_on_both, normalise=d.normalise, outcome=d.outcome, message_of=d.message_of,
    )


@pytest.fixture(autouse=True)
def _grad_mode_restored(request):
    """Every core test starts and ends with grad mode on in both libraries."""
    if not request.node.module.__name__.startswith("test_core"):
        yield
        return
    import torch

    import engine

    assert torch.is_grad_enabled() and engine.is_grad_enabled()
    yield
    ok = torch.is_grad_enabled() and engine.is_grad_enabled()
    torch.set_grad_enabled(True)
    engine.set_grad_enabled(True)
    assert ok, "a test left grad mode off"

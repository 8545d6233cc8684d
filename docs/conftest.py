"""Run every code block of the docs with pytest, through Sybil.

- ``pycon`` blocks: each ``>>>`` example is one test; its output must match the page
  (whitespace-normalised). Warnings are printed into the output as
  ``UserWarning: message`` so a page can show them.
- ``python`` blocks: run; one test per block.
- ``graph`` blocks: run and drawn to SVG with the same code the site build uses
  (docs/hooks/graphs.py); the drawing must have nodes.
- ``player`` blocks: run, recorded and drawn, one SVG and two captions per step, with
  the same code the site build uses (docs/hooks/player.py).
- ``source`` blocks: every dotted name must still resolve to source code in engine/.

Namespaces: on each page, blocks in a content tab labelled "PyTorch" (or titled
"PyTorch...") share one namespace, "micrograd" ones another, and every other block a
third, so an engine tab can never lean on a name a torch tab defined (or the other way
round). tests/test_docs_pairs.py checks that each PyTorch
tab prints the same numbers as its twicegrad tab.
"""

from __future__ import annotations

import doctest
import re
import sys
import warnings
from pathlib import Path

from sybil import Lexeme, Region, Sybil
from sybil.evaluators.doctest import DocTestEvaluator
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.abstract.doctest import DocTestStringParser

HOOKS = Path(__file__).resolve().parent / "hooks"
sys.path.append(str(HOOKS))  # appended: never shadows an installed module
import graphs  # noqa: E402
import mdblocks  # noqa: E402
import player  # noqa: E402
import source  # noqa: E402

_SUFFIX = re.compile(r" \(Triggered internally at [^)]*\.\)")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # sys.stdout is looked up now, so inside a doctest the line lands in the output checked.
    print(f"{category.__name__}: {_SUFFIX.sub('', str(message))}", file=sys.stdout)


def _namespace(example):
    """The namespace for this block: the page's torch one or its engine one."""
    doc = example.document
    spaces = doc.__dict__.setdefault("tg_namespaces", {})
    kind = example.region.lexemes["namespace"]
    if kind == "engine":
        return doc.namespace
    return spaces.setdefault(kind, {"__name__": "__test__"})


def _in_tab_namespace(inner):
    def evaluate(example):
        __tracebackhide__ = True
        example.namespace = _namespace(example)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _show_warning
            return inner(example)
    return evaluate


_doctest = _in_tab_namespace(DocTestEvaluator(doctest.NORMALIZE_WHITESPACE))
_python = _in_tab_namespace(PythonEvaluator())


def _graph(example):
    block = example.parsed
    svg = graphs.render_svg(block.source, block.attrs.get("id", "graph"), f"{example.path}:{block.line}")
    assert 'class="node"' in svg, f"{example.path}:{block.line}: the graph has no nodes"


def _player(example):
    block = example.parsed
    frames, _note = player.player_frames(block.source, block.attrs.get("id", "player"), f"{example.path}:{block.line}")
    assert frames, f"{example.path}:{block.line}: the player has no steps"
    for svg, captions in frames:
        assert 'class="node"' in svg and captions["en"] and captions["zh"]


def _source(example):
    for name in example.parsed.source.split():
        text, rel, _ = source.source_of(name)
        assert rel.startswith("engine/") and text.strip(), f"{name} is not engine source"


def _doc_offset(block: mdblocks.Block, source_offset: int) -> int:
    """Map an offset inside block.source (indentation removed) back to the page."""
    line = block.source.count("\n", 0, source_offset)
    col = source_offset - (block.source.rfind("\n", 0, source_offset) + 1)
    return block.content_offsets[line] + col


class DocsParser:
    """Yield a Sybil region for each example in the page's python/pycon/graph/source blocks."""

    def __init__(self):
        self.doctests = DocTestStringParser(_doctest)

    def __call__(self, document):
        for block in mdblocks.iter_blocks(document.text):
            lexemes = {"namespace": mdblocks.namespace_of(block)}
            if block.language == "pycon":
                for region in self.doctests(block.source, document.path):
                    start = _doc_offset(block, region.start)
                    end = _doc_offset(block, max(region.end - 1, region.start)) + 1
                    region.parsed.lineno = block.content_line - 1 + block.source.count("\n", 0, region.start)
                    yield Region(start, end, region.parsed, region.evaluator, lexemes=lexemes)
            elif block.language == "python":
                # PythonEvaluator pads the code so its line numbers are the page's.
                parsed = Lexeme(block.source, offset=0, line_offset=0)
                yield Region(block.start, block.end, parsed, _python, lexemes=lexemes)
            elif block.language == "graph":
                yield Region(block.start, block.end, block, _graph, lexemes=lexemes)
            elif block.language == "player":
                yield Region(block.start, block.end, block, _player, lexemes=lexemes)
            elif block.language == "source":
                yield Region(block.start, block.end, block, _source, lexemes=lexemes)


# Not collected as doctest modules (--doctest-modules): this file would clash with
# tests/conftest.py by name, and the hooks hold no doctests (the build test runs them).
collect_ignore = ["conftest.py", "hooks"]

pytest_collect_file = Sybil(
    parsers=[DocsParser()],
    patterns=["*.md"],
).pytest()

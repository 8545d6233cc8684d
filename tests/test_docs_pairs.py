"""Each "PyTorch" (or "micrograd") content tab prints the same numbers as its "twicegrad" tab.

The docs show PyTorch code and the engine's equivalent side by side in content tabs
(``=== "PyTorch"`` / ``=== "twicegrad"``). docs/conftest.py runs both and checks each
against the output written on the page; this test checks that the two outputs written
on the page agree: the same numbers (torch prints 4 decimals), the same True/False/None,
the same exception and warning classes and the same grad_fn names, in the same order.

On "Build it yourself" the engine side is the page's own mini engine, in tabs labelled
"mini engine": each step's engine is checked against PyTorch the same way.

A "micrograd" tab group that shows where micrograd goes wrong is marked with the line
``<!-- contrast -->`` just before it; there, the outputs must differ.
"""

from __future__ import annotations

import doctest
import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.append(str(DOCS / "hooks"))  # appended: never shadows an installed module
import mdblocks  # noqa: E402

TORCH, ENGINE, MICROGRAD = "PyTorch", "twicegrad", "micrograd"
MINI = "mini engine"  # build-it-yourself.md: the engine each step builds
ENGINES = (ENGINE, MINI)

TOKEN = re.compile(
    r"(?P<num>(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.]))"
    r"|(?P<word>(?<![\w.])(?:True|False|None|[-+]?inf|nan)\b)"
    r"|(?P<name>\b\w+(?:Error|Warning|Backward\d*)\b)"
)


def tokens(output: str) -> list:
    out = []
    for m in TOKEN.finditer(output):
        if m.group("num") is not None:
            out.append(float(m.group("num")))
        elif m.group("word") is not None:
            w = m.group("word")
            out.append(float(w) if w.lstrip("+-") in ("inf", "nan") else w)
        else:
            out.append(m.group("name"))
    return out


def outputs(blocks: list[mdblocks.Block]) -> str:
    """The expected output of every >>> example in these pycon blocks, joined."""
    parser = doctest.DocTestParser()
    return "".join(ex.want for b in blocks if b.language == "pycon" for ex in parser.get_examples(b.source))


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4)
    return a == b


def mismatch(torch_out: str, engine_out: str) -> str | None:
    """None if the two outputs agree, else a description of the first difference."""
    t, e = tokens(torch_out), tokens(engine_out)
    if not t:
        return "the reference tab prints nothing to compare"
    if len(t) != len(e):
        return f"the reference tab prints {len(t)} values {t}, twicegrad {len(e)} values {e}"
    for i, (a, b) in enumerate(zip(t, e)):
        if not same(a, b):
            return f"value {i}: reference {a!r} vs twicegrad {b!r}\nreference: {t}\ntwicegrad: {e}"
    return None


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)


CONTRAST = "<!-- contrast -->"


def is_contrast(lines: list[str], group: int) -> bool:
    """Whether the line before the tab group starting at 1-based line ``group`` marks it."""
    for line in reversed(lines[:group - 1]):
        if line.strip():
            return line.strip() == CONTRAST
    return False


def pairs():
    for page in pages():
        text = page.read_text(encoding="utf-8")
        lines = text.splitlines()
        for group, tabs in mdblocks.tab_groups(text).items():
            if set(tabs) & {TORCH, MICROGRAD, *ENGINES}:
                yield pytest.param(page, group, tabs, is_contrast(lines, group),
                                   id=f"{page.relative_to(DOCS).as_posix()}:{group}")


@pytest.mark.parametrize("page,group,tabs,contrast", list(pairs()))
def test_torch_tab_matches_engine_tab(page, group, tabs, contrast):
    assert set(tabs) in ({TORCH, ENGINE}, {MICROGRAD, ENGINE}, {TORCH, MINI}), \
        f"{page}:{group}: a comparison tab group has tabs {sorted(tabs)}"
    other = TORCH if TORCH in tabs else MICROGRAD
    engine = ENGINE if ENGINE in tabs else MINI
    for label in (other, engine):
        assert any(b.language == "pycon" for b in tabs[label]), f"{page}:{group}: the {label} tab has no pycon block"
    problem = mismatch(outputs(tabs[other]), outputs(tabs[engine]))
    if contrast:
        assert other == MICROGRAD, f"{page}:{group}: only micrograd comparisons may be contrasts"
        assert problem is not None, f"{page}:{group}: marked as a contrast, but the outputs agree"
    else:
        assert problem is None, f"{page}:{group}: {problem}"


def test_there_are_pairs_to_compare():
    assert len(list(pairs())) >= 10


SAMPLE = '''
=== "PyTorch"

    ```pycon
    >>> print(x.grad, y.grad)
    tensor(0.3333) None
    >>> z.grad_fn
    <MulBackward0 object at 0x7f>
    ```

=== "twicegrad"

    ```pycon
    >>> print(x.grad, y.grad)
    Value(0.3333333333333333) None
    >>> z.grad_fn
    <MulBackward0>
    ```
'''


def test_contrast_marker_is_found():
    lines = ["text", "", CONTRAST, "", '=== "micrograd"', "", "    ```pycon"]
    assert is_contrast(lines, 5)
    assert not is_contrast(["text", "", '=== "micrograd"'], 3)


def test_comparison_accepts_equal_and_rejects_different_outputs():
    (group,) = mdblocks.tab_groups(SAMPLE).values()
    assert mismatch(outputs(group[TORCH]), outputs(group[ENGINE])) is None
    assert mismatch("tensor(2.)\n", "Value(3.0)\n") is not None
    assert mismatch("tensor(2.) None\n", "Value(2.0)\n") is not None
    assert mismatch("tensor(nan)\n", "Value(nan)\n") is None
    assert mismatch("tensor(-inf)\n", "Value(inf)\n") is not None
    assert mismatch("RuntimeError: x\n", "TypeError: x\n") is not None
    assert mismatch("AddBackward0\n", "MulBackward0\n") is not None
    assert mismatch("tensor([ 4., 18.,  4.])\n", "[4.0, 18.0, 4.0]\n") is None

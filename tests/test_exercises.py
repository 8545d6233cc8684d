"""The exercises at the end of each concept page, graded as the page grades them.

Each ``exercise`` block (format: docs/hooks/runner.py) is graded with
``runner_session.grade``, the function the page's Check button calls in Pyodide:

- the reference solution passes its grader, and the plausible wrong answer and the
  untouched starter do not (so the grader can fail, and the exercise asks something);
- where the block has a ``torch`` section, the same program run on PyTorch gives the
  values the solution ends with (``expected``: expression in the solution -> value), so
  no answer is taken from the engine's own output;
- every concept page, in both languages, ends with an "Exercises"/"练习" section of two
  or three exercises, with the same ids in both languages.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONCEPTS = ROOT / "docs" / "concepts"
sys.path.append(str(ROOT / "docs" / "hooks"))  # appended: never shadows an installed module
import mdblocks  # noqa: E402
import runner  # noqa: E402
import runner_session  # noqa: E402

PAGES = sorted(CONCEPTS.glob("*.md"))
HEADING = {"en": "## Exercises", "zh": "## 练习"}


def _lang(md: Path) -> str:
    return "zh" if md.name.endswith(".zh.md") else "en"


def _exercises(md: Path) -> list[tuple[str, dict[str, str]]]:
    text = md.read_text(encoding="utf-8")
    return [(b.attrs.get("id", ""), runner.parse_exercise(b.source, f"{md.name}:{b.line}"))
            for b in mdblocks.iter_blocks(text) if b.language == "exercise"]


EXERCISES = [(md, ex_id, parts) for md in PAGES for ex_id, parts in _exercises(md)]
IDS = [f"{md.name}::{ex_id}" for md, ex_id, _ in EXERCISES]


def test_concept_pages_end_with_exercises():
    assert len(PAGES) == 10
    for md in PAGES:
        text = md.read_text(encoding="utf-8")
        headings = [line for line in text.splitlines() if line.startswith("## ")]
        assert headings[-1] in (HEADING[_lang(md)], HEADING[_lang(md)] + " { #exercises }"), \
            f"{md.name}: the last section is {headings[-1]!r}"
        after = text[text.rindex(HEADING[_lang(md)]):]
        count = sum(1 for b in mdblocks.iter_blocks(after) if b.language == "exercise")
        assert 2 <= count <= 3, f"{md.name}: {count} exercises"
        assert count == len(_exercises(md)), f"{md.name}: an exercise sits outside the Exercises section"


def test_both_languages_have_the_same_exercises():
    for md in PAGES:
        if _lang(md) == "en":
            zh = md.with_name(md.name[:-3] + ".zh.md")
            assert [i for i, _ in _exercises(md)] == [i for i, _ in _exercises(zh)], md.name


@pytest.mark.parametrize("md, ex_id, parts", EXERCISES, ids=IDS)
def test_solution_passes_the_grader(md, ex_id, parts):
    ok, shown = runner_session.grade(parts["solution"], parts["check"])
    assert ok, shown


@pytest.mark.parametrize("md, ex_id, parts", EXERCISES, ids=IDS)
def test_wrong_answer_and_starter_fail_the_grader(md, ex_id, parts):
    assert "wrong" in parts, f"{md.name}::{ex_id} needs a '#% wrong' answer to show the grader can fail"
    for name in ("wrong", "starter"):
        ok, shown = runner_session.grade(parts[name], parts["check"])
        assert not ok, f"the grader accepted the {name}: {shown}"
        assert shown.strip(), f"the grader rejected the {name} without saying why"


def _plain(value):
    if value is None:
        return None
    return value.item() if hasattr(value, "item") else float(value)


@pytest.mark.torch  # the oracle runs in this test: the fast loop must not import torch
@pytest.mark.parametrize("md, ex_id, parts", [e for e in EXERCISES if "torch" in e[2]],
                         ids=[i for i, e in zip(IDS, EXERCISES) if "torch" in e[2]])
def test_solution_agrees_with_torch(md, ex_id, parts):
    oracle: dict = {}
    exec(compile(parts["torch"], f"{md.name}::{ex_id} torch", "exec"), oracle)
    expected = oracle["expected"]
    assert expected, "the torch section compares nothing"
    session = runner_session.Session()
    printed = session.run_code(parts["solution"], f"{md.name}::{ex_id}")
    assert "Traceback" not in printed, printed
    for expr, want in expected.items():
        got = _plain(eval(expr, session.namespace))
        want = _plain(want)
        if want is None or got is None:
            assert got is want, f"{expr}: twicegrad {got!r}, torch {want!r}"
        else:
            # the same IEEE operations in both: equal up to libm's last bit
            assert math.isclose(got, want, rel_tol=1e-12, abs_tol=0.0), f"{expr}: twicegrad {got!r}, torch {want!r}"


def test_parse_exercise_rejects_malformed_blocks():
    with pytest.raises(ValueError, match="#% check"):
        runner.parse_exercise("#% starter\nx = 1\n#% solution\nx = 2\n")
    with pytest.raises(ValueError, match="unknown exercise section"):
        runner.parse_exercise("#% starter\n#% answer\n")
    with pytest.raises(ValueError, match="must start with"):
        runner.parse_exercise("x = 1\n#% starter\n")
    assert re.fullmatch(r"[\w-]+", "fix-second-backward")

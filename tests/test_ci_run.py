""".ci/run fails unless every test ran: on failures, on any skip, and when nothing ran.

It is run here against a stand-in ./scripts/test.sh that prints a canned pytest
summary and exits with pytest's status, in a copy of the repository's layout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ci_run(tmp_path: Path, log: str, status: int) -> subprocess.CompletedProcess:
    (tmp_path / ".ci").mkdir()
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    fake = tmp_path / "scripts" / "test.sh"
    fake.write_text(f"#!/usr/bin/env bash\ncat <<'LOG'\n{log}\nLOG\nexit {status}\n", encoding="utf-8")
    fake.chmod(0o755)
    return subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("log,status,passes", [
    ("........ [100%]\n8 passed in 1.00s", 0, True),
    ("..F..... [100%]\n1 failed, 7 passed in 1.00s", 1, False),
    ("..s..... [100%]\nSKIPPED [1] tests/test_x.py:3: no torch\n7 passed, 1 skipped in 1.00s", 0, False),
    ("collected 0 items\n\nno tests ran in 0.01s", 5, False),
    ("no tests ran in 0.01s", 0, False),
    ("ruff: 1 finding", 1, False),
], ids=["all-passed", "a-failure", "a-skip", "nothing-collected", "nothing-ran-exit-0", "lint-failed"])
def test_ci_run_fails_unless_every_test_ran(tmp_path, log, status, passes):
    p = ci_run(tmp_path, log, status)
    assert (p.returncode == 0) is passes, p.stdout + p.stderr

"""The markers of the fast loop reach test files nobody edited for them.

A scratch project gets a copy of tests/conftest.py and the kind of files other people
add (a differential test using the ``differ`` fixture, a module importing torch, a
browser test); pytest, run on it in a subprocess, must mark and select them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FILES = {
    "test_exact_new.py": "def test_uses_differ(differ):\n    pass\n\n\ndef test_plain():\n    pass\n",
    "test_imports_torch.py": ("import os\n\nimport torch  # noqa: F401\n\n"
                              "open(os.environ['IMPORTED_FLAG'], 'w').close()\n\n\ndef test_t():\n    pass\n"),
    "test_runner_browser.py": "def test_b():\n    pass\n",
    "test_site_like.py": "from playwright.sync_api import sync_playwright  # noqa: F401\n\n\ndef test_s():\n    pass\n",
}


def collect(tmp_path: Path, markexpr: str) -> tuple[set[str], bool]:
    tests = tmp_path / "tests"
    if not tests.exists():
        tests.mkdir()
        shutil.copy(ROOT / "tests" / "conftest.py", tests / "conftest.py")
        for name, text in FILES.items():
            (tests / name).write_text(text, encoding="utf-8")
        (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8"),
                                                  encoding="utf-8")
    flag = tmp_path / "imported"
    if flag.exists():
        flag.unlink()
    env = dict(os.environ, IMPORTED_FLAG=str(flag))
    p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly",
                        "-m", markexpr, "tests"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode in (0, 5), p.stdout + p.stderr
    ids = {line.strip() for line in p.stdout.splitlines() if "::" in line}
    return ids, flag.exists()


def test_quick_selection_leaves_out_torch_and_browser_tests_without_importing_them(tmp_path):
    ids, imported = collect(tmp_path, "not torch and not slow and not browser")
    assert ids == {"tests/test_exact_new.py::test_plain"}
    assert not imported, "a module deselected whole was imported"


def test_each_marker_selects_its_tests(tmp_path):
    torch_ids, imported = collect(tmp_path, "torch")
    assert torch_ids == {"tests/test_exact_new.py::test_uses_differ", "tests/test_imports_torch.py::test_t"}
    assert imported
    browser_ids, _ = collect(tmp_path, "browser and slow")
    assert browser_ids == {"tests/test_runner_browser.py::test_b", "tests/test_site_like.py::test_s"}


def test_the_fast_loop_never_imports_torch(tmp_path):
    """``./scripts/test.sh --quick``'s selection, run for real: it passes, and torch is
    not in sys.modules at its end (a docs page whose own code imports torch, or a test
    that runs the oracle inside, must carry the torch marker)."""
    (tmp_path / "torch_check.py").write_text(
        "import sys\n\n\ndef pytest_sessionfinish(session):\n"
        "    print('\\ntorch imported:', 'torch' in sys.modules)\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:hypothesispytest",
                        "-p", "torch_check", "-m", "not torch and not slow and not browser"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "torch imported: False" in p.stdout, p.stdout[-3000:]

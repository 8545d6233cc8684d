"""``python -m engine.doctests``: every docstring example of the engine, run with the
standard library alone, as someone who copied ``engine/`` into a project would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE_MODULES = sorted(p.stem for p in (ROOT / "engine").glob("*.py") if p.stem not in ("__init__", "doctests"))


def run_doctests(python: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run([python, "-m", "engine.doctests"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def copied_engine(tmp_path: Path) -> Path:
    """A folder holding nothing but a copy of engine/."""
    folder = tmp_path / "project"
    shutil.copytree(ROOT / "engine", folder / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_every_example_runs_here_and_passes():
    """In the full environment (graphviz and dot installed) nothing is left unrun."""
    p = run_doctests(sys.executable, ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "not run" not in p.stdout and " 0 failed" in p.stdout, p.stdout
    for name in ENGINE_MODULES:
        assert f"engine.{name}: " in p.stdout, f"engine.{name} was not run:\n{p.stdout}"
    assert "engine.viz: " in p.stdout and "examples passed" in p.stdout.split("engine.viz: ")[1].splitlines()[0]


def test_a_copied_engine_in_a_bare_virtualenv(tmp_path):
    """A venv without site packages and a copied engine/: viz examples are "not run"
    (no graphviz there), with the reason; every other example passes."""
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False, system_site_packages=False)
    python = bare / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    p = run_doctests(str(python), copied_engine(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "engine.viz: not run: the graphviz Python package is not installed" in p.stdout, p.stdout
    assert " 0 failed; not run: engine.viz" in p.stdout, p.stdout
    assert "engine.value: " in p.stdout and "examples passed" in p.stdout


def test_a_failing_example_fails_the_command(tmp_path):
    project = copied_engine(tmp_path)
    floats = project / "engine" / "floats.py"
    broken = '\n\ndef _broken():\n    """\n    >>> 1 + 1\n    3\n    """\n'
    floats.write_text(floats.read_text(encoding="utf-8") + broken, encoding="utf-8")
    p = run_doctests(sys.executable, project)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "engine.floats: 1 of " in p.stdout and "examples FAILED" in p.stdout, p.stdout

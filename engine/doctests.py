"""Run every docstring example of the engine, with the standard library alone.

From the folder that holds ``engine/`` (or anywhere, once the package is installed)::

    python -m engine.doctests

Each module is imported as ``engine.<name>``, so its relative imports work (plain
``python -m doctest engine/value.py`` cannot import them), and its examples run with
:mod:`doctest` (``ELLIPSIS`` on, as under pytest). ``engine.viz`` needs the ``graphviz``
Python package and Graphviz's ``dot`` program: without them its examples are reported
as not run, with the reason, and are not failures. The exit status is 1 if an example
failed or a module could not be imported, else 0.

>>> MODULES[0], "engine.viz" in MODULES, "engine.doctests" in MODULES
('engine', True, False)
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import shutil
import sys

import engine

#: The package and each of its modules but this one, found on disk.
MODULES = ["engine"] + sorted(f"engine.{m.name}" for m in pkgutil.iter_modules(engine.__path__)
                              if m.name != "doctests")


def missing_requirement(module: str) -> str | None:
    """Why ``module``'s examples cannot run here, or None if they can."""
    if module != "engine.viz":
        return None
    if importlib.util.find_spec("graphviz") is None:
        return "the graphviz Python package is not installed (pip install graphviz)"
    if shutil.which("dot") is None:
        return "Graphviz's dot program is not on PATH (Debian: apt-get install graphviz)"
    return None


def run(modules=MODULES, out=sys.stdout) -> int:
    """Run the examples of ``modules``, print one line each and a total; return the
    exit status (0: nothing failed)."""
    failed = attempted = 0
    not_run = []
    flags = doctest.ELLIPSIS
    for name in modules:
        reason = missing_requirement(name)
        if reason:
            not_run.append(name)
            print(f"{name}: not run: {reason}", file=out)
            continue
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # reported, then counted as a failure
            failed += 1
            print(f"{name}: FAILED to import: {type(exc).__name__}: {exc}", file=out)
            continue
        runner = doctest.DocTestRunner(optionflags=flags)
        for test in doctest.DocTestFinder().find(module, name):
            runner.run(test, out=out.write)
        failed += runner.failures
        attempted += runner.tries
        status = f"{runner.failures} of {runner.tries} examples FAILED" if runner.failures \
            else f"{runner.tries} examples passed"
        print(f"{name}: {status}", file=out)
    summary = f"{attempted} examples run, {failed} failed"
    if not_run:
        summary += f"; not run: {', '.join(not_run)}"
    print(summary, file=out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run())

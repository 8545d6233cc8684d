#!/usr/bin/env bash
# Set everything up, then check the project.
#
#   ./scripts/test.sh            what CI runs (.ci/run): ruff, mypy on engine/, then the whole
#                                test suite (engine, differential tests against torch, doctests,
#                                docs snippets, the docs build and the browser test)
#   ./scripts/test.sh --quick    the fast loop: ruff, then the tests that need neither torch
#                                nor a browser and are not slow (engine doctests, the docs'
#                                twicegrad snippets, docs hooks); torch is never imported
#
# Further arguments go to pytest (e.g. ./scripts/test.sh --quick -x -k grad_mode).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
    shift
fi
bash scripts/setup.sh
python=.venv/bin/python
"$python" -m ruff check --quiet .
if [ "$quick" -eq 1 ]; then
    exec "$python" -m pytest -m "not torch and not slow and not browser" -p no:hypothesispytest "$@"
fi
"$python" -m mypy
exec "$python" -m pytest "$@"

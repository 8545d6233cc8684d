#!/usr/bin/env bash
# Set everything up, then run the whole test suite (engine, differential tests against
# torch, doctests, docs snippets, the docs build and the browser test).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"

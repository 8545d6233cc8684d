#!/usr/bin/env bash
# Set everything up, build the docs site and serve it on http://127.0.0.1:8000/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/mkdocs serve --strict -a 127.0.0.1:8000 "$@"

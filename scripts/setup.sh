#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine, idempotently:
# Debian packages (graphviz for drawing, chromium for the browser test, valgrind for
# benchmarks/instructions.py), a .venv
# with the engine installed in editable mode plus its test and docs extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Debian packages: ${need_apt[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "setup: please install these Debian packages: ${need_apt[*]}" >&2
        exit 1
    fi
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.twicegrad-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing Python packages into .venv"
    # (pip's notes about this machine's extra index folders are noise: filtered out)
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,docs,viz]' \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    touch "$stamp"
fi

# --- npm: Pyodide and @viz-js/viz, served with the docs site (docs/hooks/runner.py) ---
# Pinned in package.json/package-lock.json; installed into node_modules/ (git-ignored),
# which the docs build copies from. Debian's npm is installed when missing.
if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Debian packages: nodejs npm"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
        echo "setup: please install these Debian packages: nodejs npm" >&2
        exit 1
    fi
fi
npm_stamp=node_modules/.twicegrad-installed
if [ ! -f "$npm_stamp" ] || [ package-lock.json -nt "$npm_stamp" ]; then
    echo "setup: installing npm packages (pyodide, @viz-js/viz) into node_modules"
    npm ci --no-audit --no-fund --loglevel=error
    touch "$npm_stamp"
fi
# --- end npm ---

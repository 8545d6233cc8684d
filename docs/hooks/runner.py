"""MkDocs hook: Run buttons on the twicegrad snippets, with Pyodide served by the site.

At build time (and under ``mkdocs serve``) this hook

- marks every code block of the page's Markdown that runs on the engine (a
  ``pycon``/``python`` block outside a "PyTorch"/"micrograd" tab:
  mdblocks.namespace_of) and can run in the browser (mdblocks.browser_runnable: it
  needs neither torch nor processes) with ``data-tg="run"``, so that
  docs/assets/javascripts/runner.js gives them Run and Reset buttons (it runs first
  among the hooks: the code other hooks generate, such as engine source listings, is
  not marked; the runner finds the code under a drawn graph by its place after the
  figure);
- turns each ``exercise`` block into an editable starter, a hidden grader and an answer
  in a collapsed box (format below);
- copies into ``assets/runner/`` of the site: Pyodide's loader, wasm, standard library
  and lock file and @viz-js/viz's browser build (both from node_modules/, installed by
  scripts/setup.sh with ``npm ci``), the repository's engine/*.py (so the browser runs
  the very files the tests run), runner_session.py (the Python side of the runner) and a
  manifest.json listing them.

An exercise block holds sections, each opened by a ``#% name`` line::

    ```exercise id="second-backward"
    #% starter      the code the reader starts from (shown, editable, runnable)
    #% check        the grader: raises (AssertionError with a hint) unless right
    #% solution     the reference answer (shown on request)
    #% why          optional: Markdown shown above the answer, saying why
    #% wrong        a plausible wrong answer the grader must reject (not shown)
    #% torch        optional: the same program in PyTorch, the tests' oracle (not shown)
    ```

tests/test_exercises.py grades every ``solution`` and ``wrong`` with the same
``runner_session.grade`` the page calls.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # for mdblocks, beside this file
    sys.path.append(str(Path(__file__).resolve().parent))
import mdblocks

ROOT = mdblocks.ROOT
HOOKS = Path(__file__).resolve().parent
NODE_MODULES = ROOT / "node_modules"
#: (package folder, file) -> name under assets/runner/ in the site
VENDOR = {
    ("pyodide", "pyodide.js"): "pyodide/pyodide.js",
    ("pyodide", "pyodide.asm.mjs"): "pyodide/pyodide.asm.mjs",
    ("pyodide", "pyodide.asm.wasm"): "pyodide/pyodide.asm.wasm",
    ("pyodide", "python_stdlib.zip"): "pyodide/python_stdlib.zip",
    ("pyodide", "pyodide-lock.json"): "pyodide/pyodide-lock.json",
    ("@viz-js/viz", "dist/viz-global.js"): "viz/viz-global.js",
}
SECTIONS = ("starter", "check", "solution", "why", "wrong", "torch")
_SECTION = re.compile(r"^#%\s*(\w+)\s*$")
WORDS = {
    "en": {"answer": "Answer", "exercise": "Exercise"},
    "zh": {"answer": "答案", "exercise": "练习"},
}


def parse_exercise(source: str, where: str = "<exercise>") -> dict[str, str]:
    """The sections of an ``exercise`` block: name -> code (``starter``, ``check`` and
    ``solution`` are required).

    >>> parse_exercise("#% starter\\nx = 1\\n#% check\\nassert x == 2\\n#% solution\\nx = 2\\n")["check"]
    'assert x == 2\\n'
    """
    sections: dict[str, list[str]] = {}
    current = None
    for line in source.splitlines():
        m = _SECTION.match(line)
        if m:
            current = m.group(1)
            if current not in SECTIONS:
                raise ValueError(f"{where}: unknown exercise section #% {current} (one of {', '.join(SECTIONS)})")
            if current in sections:
                raise ValueError(f"{where}: section #% {current} appears twice")
            sections[current] = []
        elif current is None:
            if line.strip():
                raise ValueError(f"{where}: an exercise must start with a '#% starter' line")
        else:
            sections[current].append(line)
    out = {name: "\n".join(lines).strip("\n") + "\n" for name, lines in sections.items()}
    missing = [name for name in ("starter", "check", "solution") if name not in out]
    if missing:
        raise ValueError(f"{where}: the exercise has no {', '.join('#% ' + m for m in missing)} section")
    return out


def _language(page) -> str:
    return "zh" if page.file.src_uri.endswith(".zh.md") else "en"


def _fence(language: str, role: str, attrs: str, code: str, title: str = "") -> list[str]:
    """A fence whose ``<div class="highlight">`` carries ``data-tg=role`` (classes would be dropped)."""
    title_attr = f' title="{title}"' if title else ""
    head = f'```{{.{language} data-tg="{role}" data-tg-lang="{language}"{attrs}{title_attr}}}'
    return [head, *code.rstrip("\n").split("\n"), "```"]


def on_page_markdown(markdown, page, config, files):
    lang = _language(page)
    out = []
    pos = 0
    blocks = mdblocks.iter_blocks(markdown)
    runnable = {b.start for b in mdblocks.browser_runnable(blocks)}
    for block in blocks:
        if block.language == "exercise":
            lines = _render_exercise(block, page, lang)
        elif block.start in runnable:
            lines = _fence(block.language, "run", "", block.source, block.attrs.get("title", ""))
        else:
            continue
        out.append(markdown[pos:block.start])
        out.append("".join((block.indent + line if line.strip() else line) + "\n" for line in lines))
        pos = block.end
    out.append(markdown[pos:])
    return "".join(out)


def _render_exercise(block: mdblocks.Block, page, lang: str) -> list[str]:
    where = f"{page.file.src_uri}:{block.line}"
    ex_id = block.attrs.get("id")
    if not ex_id or not re.fullmatch(r"[\w-]+", ex_id):
        raise ValueError(f'{where}: an exercise block needs id="..." (letters, digits, - and _)')
    parts = parse_exercise(block.source, where)
    check = html.escape(json.dumps(parts["check"]), quote=True)
    return [
        *_fence("python", "exercise", f' data-exercise="{ex_id}"', parts["starter"]),
        "",
        f'<div class="tg-check" data-exercise="{ex_id}" data-check="{check}" hidden></div>',
        "",
        f'??? success "{WORDS[lang]["answer"]}"',
        "",
        *("    " + line if line else "" for line in parts.get("why", "").strip("\n").split("\n")),
        "",
        *("    " + line if line else "" for line in
          _fence("python", "solution", f' data-exercise="{ex_id}"', parts["solution"])),
        "",
    ]


# ---------------------------------------------------------------------------------
# The files the browser needs, copied into the site
# ---------------------------------------------------------------------------------

def runner_files() -> dict[str, Path]:
    """Site path under assets/runner/ -> the file to copy there."""
    files = {}
    for (package, name), target in VENDOR.items():
        path = NODE_MODULES / package / name
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing: the docs' Run buttons need the npm packages; run scripts/setup.sh (npm ci)")
        files[target] = path
    for path in sorted((ROOT / "engine").glob("*.py")):
        files[f"engine/{path.name}"] = path
    files["runner_session.py"] = HOOKS / "runner_session.py"
    return files


def _copy(src: Path, dest: Path) -> None:
    """Copy unless an identical-looking copy is there (mkdocs serve rebuilds often)."""
    if dest.exists():
        a, b = src.stat(), dest.stat()
        if a.st_size == b.st_size and a.st_mtime_ns <= b.st_mtime_ns:
            return
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)


def on_post_build(config):
    target = Path(config["site_dir"]) / "assets" / "runner"
    files = runner_files()
    for rel, src in files.items():
        _copy(src, target / rel)
    python = {rel: hashlib.sha256(src.read_bytes()).hexdigest()[:12]
              for rel, src in files.items() if rel.endswith(".py")}
    manifest = {"python": python}  # hashes bust the browser's cache when a file changes
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def on_serve(server, config, builder):
    server.watch(str(ROOT / "engine"))
    return server

"""MkDocs hook: the API reference page lists the engine's public modules by itself.

A fenced block whose language is ``api`` becomes one mkdocstrings directive (``::: name``)
per public module of the package: ``engine`` first (the names it exports), then each
public submodule that ``engine/__init__.py`` does not already re-export wholesale
(``engine.functional``, ``engine.nn``, ``engine.optim``, ``engine.viz``...), found on
disk at build time. So a new module appears in the reference without anyone editing
the page, and every word of the reference comes from the docstrings.
"""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # for mdblocks, beside this file
    sys.path.append(str(Path(__file__).resolve().parent))
import mdblocks

ROOT = Path(__file__).resolve().parents[2]
#: Modules whose public names ``engine`` re-exports: documented under ``engine`` itself.
REEXPORTED = {"value", "autograd", "grad_mode", "function", "checks", "floats"}
ORDER = ["functional", "nn", "optim", "viz"]


def public_modules(package: str = "engine") -> list[str]:
    names = [p.stem for p in (ROOT / package).glob("*.py")
             if not p.stem.startswith("_") and p.stem not in REEXPORTED]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return [package] + [f"{package}.{n}" for n in names]


ZH_NOTE = ("API 参考由 `engine` 的文档字符串生成，只有英文版："
           "[API reference](../../api/)。")


def on_page_markdown(markdown, page, config, files):
    zh = str(config["theme"]["language"]).startswith("zh")

    def render(block):
        if zh:  # one copy of each object's anchors, or autorefs cannot tell them apart
            return ZH_NOTE + "\n"
        return "\n\n".join(f"::: {name}" for name in public_modules()) + "\n"
    return mdblocks.replace_blocks(markdown, "api", render)

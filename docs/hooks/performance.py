"""MkDocs hook: the Performance page's table and chart, made from benchmarks/results.json.

A fenced block whose language is ``benchmark`` is replaced by a table and an SVG bar
chart of the numbers ``benchmarks/bench.py`` wrote (``$TWICEGRAD_BENCHMARK_RESULTS``
names another file, for tests). The file's shape, as bench.py writes it::

    {
      "date": "...", "python": "3.11.7", "machine": "x86_64, 2 cores", "quick": false,
      "sizes": {"samples": 100, ...},
      "results": {
        "mlp_step": {"twicegrad": {"seconds": 0.12, "check": 0.85},
                     "micrograd": {"seconds": 0.86, ...}, "torch": {...}},
        "chain":    {"micrograd": {"seconds": null, "error": "RecursionError"}, ...},
        "memory":   {"twicegrad": {"live": 133.8, "after_backward": ..., "after_drop": ...},
                     "torch": {"error": "..."}},
        ...
      }
    }

Every numeric field but ``check`` (the value each backend computed, to show they agree)
is one row; ``error`` is shown in place of a missing number. Rows of the ``memory`` case
are bytes per node, all others seconds. When the file does not exist, the page says how
to make it instead, and the build still passes.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # for mdblocks, beside this file
    sys.path.append(str(Path(__file__).resolve().parent))
import mdblocks

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["twicegrad", "micrograd", "torch"]
COLOURS = {"twicegrad": "#e64a19", "micrograd": "#1976d2", "torch": "#388e3c"}

CASES = {
    "mlp_step": "(a) micrograd's demo step: MLP 2-16-16-1, forward + backward + SGD",
    "dag": "(b) random DAG",
    "chain": "(c) deep chain y = tanh(1.0001 y + 0.1)",
    "second_derivative": "(d) second derivative (create_graph, then grad)",
    "memory": "(e) memory per graph node",
}
FIELDS = {"seconds": "", "build": "build", "backward": "backward",
          "live": "while the graph lives", "after_backward": "after backward",
          "after_drop": "after the output is dropped"}

TEXT = {
    "en": {
        "missing": ('!!! note "No benchmark results yet"\n\n'
                    "    `benchmarks/results.json` does not exist in this checkout, so there are no numbers "
                    "to show. Run `python benchmarks/bench.py` to write it, then rebuild the site."),
        "case": "case", "unit": "unit", "env": "Measured", "quick": " (quick sizes: the numbers are only indicative)",
        "ratio": "time relative to twicegrad, log scale (shorter is faster)",
        "seconds": "s", "bytes": "bytes/node",
    },
    "zh": {
        "missing": ('!!! note "还没有基准测试结果"\n\n'
                    "    此检出中不存在 `benchmarks/results.json`，因此没有可显示的数字。"
                    "运行 `python benchmarks/bench.py` 生成它，然后重新构建网站。"),
        "case": "用例", "unit": "单位", "env": "测量环境", "quick": "（快速规模：数字仅供参考）",
        "ratio": "相对于 twicegrad 的时间，对数刻度（越短越快）",
        "seconds": "秒", "bytes": "字节/节点",
    },
}


def results_path() -> Path:
    return Path(os.environ.get("TWICEGRAD_BENCHMARK_RESULTS", ROOT / "benchmarks" / "results.json"))


def load(path: Path | None = None):
    """The parsed results file, or None if it does not exist."""
    path = path or results_path()
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ValueError(f"{path}: expected an object with a 'results' object")
    return data


def backends(data) -> list[str]:
    seen = [b for b in BACKENDS if any(b in case for case in data["results"].values())]
    for case in data["results"].values():
        seen += [b for b in case if b not in seen]
    return seen


def rows(data) -> list[dict]:
    """One row per (case, numeric field): label, unit, value or error per backend."""
    out = []
    for case, per_backend in data["results"].items():
        fields: list[str] = []
        for entry in per_backend.values():
            for k, v in entry.items():
                if k not in ("check", "error") and k not in fields and (v is None or isinstance(v, (int, float))):
                    fields.append(k)
        for field in fields:
            label = CASES.get(case, case)
            if FIELDS.get(field, field):
                label += ", " + FIELDS.get(field, field)
            cells = {}
            for b, entry in per_backend.items():
                v = entry.get(field)
                cells[b] = v if isinstance(v, (int, float)) else entry.get("error", "—")
            out.append({"case": case, "field": field, "label": label,
                        "unit": "bytes" if case == "memory" else "seconds", "cells": cells})
    return out


def _fmt(v) -> str:
    if not isinstance(v, (int, float)):
        return html.escape(str(v))
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def table(data, lang: str = "en") -> str:
    t = TEXT[lang]
    names = backends(data)
    lines = [f"| {t['case']} | {t['unit']} | " + " | ".join(names) + " |",
             "|---|---|" + "---:|" * len(names)]
    for r in rows(data):
        cells = [_fmt(r["cells"].get(b, "—")) for b in names]
        lines.append(f"| {r['label']} | {t['seconds'] if r['unit'] == 'seconds' else t['bytes']} | "
                     + " | ".join(cells) + " |")
    env = ", ".join(f"{k} `{data[k]}`" for k in ("date", "python", "machine") if k in data)
    if env:
        lines += ["", f"{t['env']}: {env}" + (t["quick"] if data.get("quick") else "") + "."]
    return "\n".join(lines)


def chart(data, lang: str = "en") -> str:
    """Horizontal bars: each timing row's times relative to twicegrad's, on a log scale."""
    names = backends(data)
    timed = [r for r in rows(data) if r["unit"] == "seconds"
             and isinstance(r["cells"].get("twicegrad"), (int, float)) and r["cells"]["twicegrad"] > 0]
    ratios = [r["cells"][b] / r["cells"]["twicegrad"] for r in timed for b in names
              if isinstance(r["cells"].get(b), (int, float)) and r["cells"][b] > 0]
    lo = min(ratios + [1.0]) / 1.6
    hi = max(ratios + [1.0]) * 1.6
    bar, gap, left, width = 15, 12, 330, 380

    def x(r):
        return left + width * (math.log10(r) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    parts = [f'<text x="{left}" y="14" font-size="12">{html.escape(TEXT[lang]["ratio"])}</text>']
    y = 26
    for r in timed:
        parts.append(f'<text x="0" y="{y + bar * len(names) / 2 + 4:.0f}" font-size="11">{html.escape(r["label"][:52])}</text>')
        for b in names:
            v = r["cells"].get(b)
            if isinstance(v, (int, float)) and v > 0:
                ratio = v / r["cells"]["twicegrad"]
                parts.append(f'<rect x="{left}" y="{y}" width="{max(x(ratio) - left, 1):.1f}" height="{bar - 3}" '
                             f'fill="{COLOURS.get(b, "#7b1fa2")}"><title>{html.escape(b)}: {_fmt(v)} s</title></rect>')
                parts.append(f'<text x="{x(ratio) + 4:.1f}" y="{y + bar - 4}" font-size="10">{ratio:.2g}×</text>')
            else:
                parts.append(f'<text x="{left + 4}" y="{y + bar - 4}" font-size="10">{html.escape(b)}: {_fmt(v)}</text>')
            y += bar
        y += gap
    parts.append(f'<line x1="{x(1.0):.1f}" y1="20" x2="{x(1.0):.1f}" y2="{y - gap + 3}" stroke="#888" stroke-dasharray="3,3"/>')
    for k, b in enumerate(names):
        lx = left + k * 120
        parts.append(f'<rect x="{lx}" y="{y + 6}" width="12" height="12" fill="{COLOURS.get(b, "#7b1fa2")}"/>')
        parts.append(f'<text x="{lx + 16}" y="{y + 17}" font-size="12">{html.escape(b)}</text>')
    h, w = y + 26, left + width + 50
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
            f'role="img" aria-label="benchmark chart" font-family="sans-serif">' + "".join(parts) + "</svg>")


_PENDING: dict[str, str] = {}


def on_page_markdown(markdown, page, config, files):
    lang = "zh" if str(config["theme"]["language"]).startswith("zh") else "en"

    def render(block):
        data = load()
        if data is None:
            return TEXT[lang]["missing"]
        token = f"TGCHARTPLACEHOLDER{len(_PENDING):05d}X"
        _PENDING[token] = f'<figure class="tg-chart" data-chart="benchmarks">{chart(data, lang)}</figure>'
        return table(data, lang) + "\n\n" + token + "\n"

    return mdblocks.replace_blocks(markdown, "benchmark", render)


def on_page_content(html_text, page, config, files):
    return re.sub(r"<p>(TGCHARTPLACEHOLDER\d+X)</p>", lambda m: _PENDING.pop(m.group(1)), html_text)

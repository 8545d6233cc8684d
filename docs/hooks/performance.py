"""MkDocs hook: the Performance page's table and chart, made from benchmarks/results.json.

A fenced block whose language is ``benchmark`` is replaced by a Markdown table and an SVG
bar chart of the numbers the benchmark wrote. The file's expected shape::

    {
      "environment": {"python": "3.11.2", "torch": "2.13.0", "cpu": "...", ...},
      "benchmarks": [
        {
          "name": "MLP training step",          # one row of the table
          "description": "2-16-16-1 MLP, 20 samples, forward + backward + SGD",
          "unit": "ms",                          # unit of the numbers below
          "results": {"twicegrad": 4.1, "micrograd": 9.8, "torch": 35.0}   # lower is better
        },
        ...
      ]
    }

Extra keys are ignored. "environment" may also be called "meta". When the file does not
exist yet, the page says how to make it instead of showing numbers, and the build still
passes.
"""

from __future__ import annotations

import html
import json
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mdblocks  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results.json"

COLOURS = ["#e64a19", "#1976d2", "#388e3c", "#7b1fa2", "#fbc02d", "#5d4037"]
_PENDING: dict[str, str] = {}

TEXT = {
    "en": {
        "missing": ('!!! note "No benchmark results yet"\n\n'
                    "    `benchmarks/results.json` does not exist in this checkout, so there are no numbers "
                    "to show. Run the benchmark to write it, then rebuild the site."),
        "benchmark": "Benchmark", "unit": "unit", "env": "Measured on",
        "ratio": "relative to twicegrad (lower is faster)",
    },
    "zh": {
        "missing": ('!!! note "还没有基准测试结果"\n\n'
                    "    此检出中不存在 `benchmarks/results.json`，因此没有可显示的数字。"
                    "运行基准测试生成它，然后重新构建网站。"),
        "benchmark": "基准", "unit": "单位", "env": "测量环境",
        "ratio": "相对于 twicegrad（越低越快）",
    },
}


def load(path: Path = RESULTS):
    """The parsed results file, or None if it does not exist."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ValueError(f"{path}: expected an object with a 'benchmarks' list")
    for b in data["benchmarks"]:
        if not isinstance(b.get("name"), str) or not isinstance(b.get("results"), dict):
            raise ValueError(f"{path}: each benchmark needs a 'name' and a 'results' object")
    return data


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def implementations(data) -> list[str]:
    seen: list[str] = []
    for b in data["benchmarks"]:
        for k in b["results"]:
            if k not in seen:
                seen.append(k)
    return seen


def table(data, lang: str = "en") -> str:
    t = TEXT[lang]
    impls = implementations(data)
    rows = [f"| {t['benchmark']} | {t['unit']} | " + " | ".join(impls) + " |",
            "|---|---|" + "---:|" * len(impls)]
    for b in data["benchmarks"]:
        cells = [_fmt(b["results"].get(i)) for i in impls]
        name = b["name"] + (f"<br><small>{html.escape(b['description'])}</small>" if b.get("description") else "")
        rows.append(f"| {name} | {b.get('unit', '')} | " + " | ".join(cells) + " |")
    env = data.get("environment") or data.get("meta") or {}
    if env:
        rows += ["", f"{t['env']}: " + ", ".join(f"{k} `{v}`" for k, v in env.items())]
    return "\n".join(rows)


def chart(data, lang: str = "en") -> str:
    """A grouped horizontal bar chart: each benchmark's times relative to twicegrad's, log scale."""
    impls = implementations(data)
    base = "twicegrad" if "twicegrad" in impls else impls[0]
    bar_h, gap, left, width = 16, 14, 230, 420
    ratios = []
    for b in data["benchmarks"]:
        ref = b["results"].get(base)
        for i in impls:
            v = b["results"].get(i)
            if v and ref:
                ratios.append(v / ref)
    lo = min(ratios + [1.0]) / 1.5
    hi = max(ratios + [1.0]) * 1.5

    def x(r):
        return left + width * (math.log10(r) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    parts = []
    y = 30
    for b in data["benchmarks"]:
        ref = b["results"].get(base)
        parts.append(f'<text x="0" y="{y + bar_h * len(impls) / 2 + 4:.0f}" font-size="12">{html.escape(b["name"][:34])}</text>')
        for k, i in enumerate(impls):
            v = b["results"].get(i)
            if v and ref:
                r = v / ref
                parts.append(f'<rect x="{left}" y="{y}" width="{max(x(r) - left, 1):.1f}" height="{bar_h - 3}" '
                             f'fill="{COLOURS[k % len(COLOURS)]}"><title>{html.escape(i)}: {_fmt(v)} {html.escape(b.get("unit", ""))}</title></rect>')
                parts.append(f'<text x="{x(r) + 4:.1f}" y="{y + bar_h - 5}" font-size="11">{r:.2g}×</text>')
            y += bar_h
        y += gap
    one = x(1.0)
    parts.append(f'<line x1="{one:.1f}" y1="20" x2="{one:.1f}" y2="{y - gap + 4}" stroke="#888" stroke-dasharray="3,3"/>')
    legend_y = y + 10
    for k, i in enumerate(impls):
        lx = left + k * 130
        parts.append(f'<rect x="{lx}" y="{legend_y}" width="12" height="12" fill="{COLOURS[k % len(COLOURS)]}"/>')
        parts.append(f'<text x="{lx + 16}" y="{legend_y + 11}" font-size="12">{html.escape(i)}</text>')
    parts.insert(0, f'<text x="{left}" y="14" font-size="12">{html.escape(TEXT[lang]["ratio"])}, log scale</text>')
    h = legend_y + 24
    total_w = left + width + 60
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w} {h}" width="{total_w}" height="{h}" '
            f'role="img" aria-label="benchmark chart" font-family="sans-serif">' + "".join(parts) + "</svg>")


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

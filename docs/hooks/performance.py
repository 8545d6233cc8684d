"""MkDocs hook: the Performance page's tables and chart, made from benchmarks/results.json.

A fenced block whose language is ``benchmark`` is replaced by numbers that
``benchmarks/bench.py`` wrote (``$TWICEGRAD_BENCHMARK_RESULTS`` names another file, for
tests). Its ``part`` attribute says which:

- ``ratios`` (the default): per workload and backend, the median CPU time and the
  median of the per-round ratios to the workload's reference with their range, then
  the chart of those medians; ``workloads="a,b"`` keeps only those workloads,
  ``exclude="a,b"`` leaves those out;
- ``targets``: issue 11's targets, each met or missed;
- ``memory``: bytes per node while the graph lives and after its output is dropped;
- ``machine``: the processor, the versions, the date and the number of rounds;
- ``compiled``: the compiled MLP step against the eager engine and against the float
  forward pass (the Tracing and compiling page), from the per-round times of
  ``mlp_step_compiled``.

The file's shape, as bench.py writes it (abridged)::

    {
      "date": "...", "rounds": 9, "quick": false,
      "machine": {"cpu": "AMD EPYC", "cores": 2, "system": "Linux x86_64"},
      "versions": {"python": "3.11.7", "torch": "2.13.0", "micrograd": "0.1.0", ...},
      "workloads": {
        "mlp_step": {"reference": "twicegrad", "description": "...", "not_applicable": {},
                     "backends": {"twicegrad": {"seconds": [...], "median_seconds": 0.1, "agrees": true},
                                  "micrograd": {"seconds": [...], "median_seconds": 0.4, "agrees": true,
                                                "ratio": {"median": 3.8, "min": 3.4, "max": 4.6,
                                                          "per_round": [...]}}}},
        "chain": {"backends": {"micrograd": {"error": "RecursionError: ..."}, ...}, ...}
      },
      "memory": {"twicegrad": {"live": 126.1, "after_drop": 0.5}, "torch": {"error": "n/a: ..."}},
      "targets": [{"workload": "mlp_step", "peer": "micrograd", "at_least": 6.0, "text": ">= 6x micrograd",
                   "median": 3.8, "min": 3.4, "max": 4.6, "met": false},
                  {"workload": "memory", "field": "live", "at_most": 160.0, "value": 126.1, "met": true}]
    }

When the file does not exist, the page says how to make it instead, and the build
still passes.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import statistics
import sys
import textwrap
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # for mdblocks, beside this file
    sys.path.append(str(Path(__file__).resolve().parent))
import mdblocks

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["twicegrad", "micrograd", "omnigrad", "ad", "torch"]
COLOURS = {"twicegrad": "#e64a19", "micrograd": "#1976d2", "torch": "#388e3c",
           "omnigrad": "#7b1fa2", "ad": "#f9a825"}

CASES = {
    "en": {
        "mlp_step": "MLP 2-16-16-1 training step",
        "dag_build": "100k-node DAG, build",
        "dag_backward": "100k-node DAG, backward",
        "chain": "100k-step chain",
        "second_derivative": "second derivative, 5,000 nodes",
        "gc_dag": "100k-node DAG, build + backward",
        "mlp_step_compiled": "MLP 2-16-16-1 training step, compiled",
    },
    "zh": {
        "mlp_step": "MLP 2-16-16-1 训练一步",
        "dag_build": "10 万节点 DAG，构建",
        "dag_backward": "10 万节点 DAG，反向传播",
        "chain": "10 万步的链",
        "second_derivative": "二阶导数，5000 个节点",
        "gc_dag": "10 万节点 DAG，构建 + 反向传播",
        "mlp_step_compiled": "MLP 2-16-16-1 训练一步，编译后",
    },
}

# The Chinese for the reasons the case modules give why a backend cannot run a workload.
REASONS_ZH = {
    "no higher-order derivatives": "没有高阶导数",
    "n/a: allocates in C++, out of tracemalloc's sight": "不适用：在 C++ 中分配内存，tracemalloc 看不到",
}

TEXT = {
    "en": {
        "missing": ('!!! note "No benchmark results yet"\n\n'
                    "    `benchmarks/results.json` does not exist in this checkout, so there are no numbers "
                    "to show. Run `python benchmarks/bench.py` to write it, then rebuild the site."),
        "workload": "workload", "backend": "backend", "cpu": "median CPU time",
        "ratio": "time ÷ reference's: median (min–max)", "agrees": "same numbers",
        "reference": "reference", "yes": "yes", "no": "**no**", "na": "n/a",
        "target": "target", "measured": "measured", "memory": "memory",
        "at_least": "≥ {n:g}× {peer}", "faster": "faster than {peer}", "verdict": "verdict", "met": "met", "missed": "**missed**",
        "live": "while the graph lives", "after_drop": "after the output is dropped (no `gc.collect()`)",
        "at_most": "≤ {limit:g} {bytes} per node, {what}",
        "env": "Measured on {cpu} ({cores} cores, {system}), Python {python}, torch {torch}, micrograd "
               "{micrograd}, omnigrad {omnigrad}, ad {ad}; rounds: {rounds}; {date}.",
        "quick": " These are quick sizes from a smoke run: the numbers are only indicative.",
        "chart_title": "time relative to the reference, median of rounds, log scale (longer is slower)",
        "measure": "measure", "result": "result",
        "vs_eager": "compiled step, against the eager engine", "n_faster": "{m:.1f}× faster ({lo:.1f}–{hi:.1f}×)",
        "vs_floor": "compiled step, against the float forward pass", "n_floor": "{m:.2f}× the floor ({lo:.2f}–{hi:.2f}×)",
    },
    "zh": {
        "missing": ('!!! note "还没有基准测试结果"\n\n'
                    "    此检出中不存在 `benchmarks/results.json`，因此没有可显示的数字。"
                    "运行 `python benchmarks/bench.py` 生成它，然后重新构建网站。"),
        "workload": "负载", "backend": "后端", "cpu": "CPU 时间中位数",
        "ratio": "时间 ÷ 基准的时间：中位数（最小–最大）", "agrees": "结果一致",
        "reference": "基准", "yes": "是", "no": "**否**", "na": "不适用",
        "target": "目标", "measured": "实测", "memory": "内存",
        "at_least": "≥ {peer} 的 {n:g} 倍", "faster": "快于 {peer}", "verdict": "结论", "met": "达成", "missed": "**未达成**",
        "live": "计算图存活时", "after_drop": "丢弃输出之后（不调用 `gc.collect()`）",
        "at_most": "每节点 ≤ {limit:g} 字节，{what}",
        "env": "测量环境：{cpu}（{cores} 核，{system}），Python {python}，torch {torch}，micrograd "
               "{micrograd}，omnigrad {omnigrad}，ad {ad}；{rounds} 轮；{date}。",
        "quick": "这些是冒烟测试的快速规模，数字仅供参考。",
        "chart_title": "相对基准的时间，各轮中位数，对数刻度（越长越慢）",
        "measure": "指标", "result": "结果",
        "vs_eager": "编译后的一步，与 eager 引擎相比", "n_faster": "快 {m:.1f} 倍（{lo:.1f}–{hi:.1f} 倍）",
        "vs_floor": "编译后的一步，与浮点数前向计算相比", "n_floor": "下限的 {m:.2f} 倍（{lo:.2f}–{hi:.2f} 倍）",
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
    if not isinstance(data, dict) or not isinstance(data.get("workloads"), dict):
        raise ValueError(f"{path}: expected an object with a 'workloads' object, as benchmarks/bench.py writes")
    return data


def _names(spec: str | None) -> set[str] | None:
    return None if spec is None else {n.strip() for n in spec.split(",") if n.strip()}


def rows(data, workloads: str | None = None, exclude: str | None = None) -> list[dict]:
    """One row per timed workload: its backends' median CPU seconds (or error) and ratios."""
    keep, drop = _names(workloads), _names(exclude) or set()
    out = []
    for name, w in data["workloads"].items():
        if (keep is not None and name not in keep) or name in drop:
            continue
        cells, ratios, agrees = {}, {}, {}
        for b, entry in w["backends"].items():
            cells[b] = entry.get("median_seconds", entry.get("error", "—"))
            agrees[b] = entry.get("agrees")
            if b == w["reference"] and "error" not in entry:
                ratios[b] = {"median": 1.0, "min": 1.0, "max": 1.0}
            elif "ratio" in entry:
                ratios[b] = entry["ratio"]
        out.append({"case": name, "reference": w["reference"], "description": w.get("description", name),
                    "unit": "seconds", "cells": cells, "ratios": ratios, "agrees": agrees,
                    "not_applicable": w.get("not_applicable", {})})
    return out


def backends(data, the_rows: list[dict] | None = None) -> list[str]:
    the_rows = rows(data) if the_rows is None else the_rows
    seen = [b for b in BACKENDS if any(b in r["cells"] for r in the_rows)]
    for r in the_rows:
        seen += [b for b in r["cells"] if b not in seen]
    return seen


def _seconds(v) -> str:
    if not isinstance(v, (int, float)):
        return html.escape(str(v).split(":")[0])  # "RecursionError: maximum ..." -> the error's name
    return f"{v:.3g} s" if v >= 1 else f"{v * 1000:.3g} ms"


def _ratio(r: dict) -> str:
    return f"{r['median']:.2f}× ({r['min']:.2f}–{r['max']:.2f})"


def _label(name: str, lang: str, description: str) -> str:
    return CASES[lang].get(name, description)


def table(data, lang: str = "en", workloads: str | None = None, exclude: str | None = None) -> str:
    """The ratios table: one line per (workload, backend), the reference first."""
    t = TEXT[lang]
    lines = [f"| {t['workload']} | {t['backend']} | {t['cpu']} | {t['ratio']} | {t['agrees']} |",
             "|---|---|---:|---:|:---:|"]
    for r in rows(data, workloads, exclude):
        label = _label(r["case"], lang, r["description"])
        for b, v in r["cells"].items():
            if b == r["reference"]:
                ratio = t["reference"]
            elif b in r["ratios"]:
                ratio = _ratio(r["ratios"][b])
            else:
                ratio = t["na"]
            agrees = {True: t["yes"], False: t["no"]}.get(r["agrees"].get(b), t["na"])
            lines.append(f"| {label} | {html.escape(b)} | {_seconds(v)} | {ratio} | {agrees} |")
            label = ""
        for b, why in r["not_applicable"].items():
            why = REASONS_ZH.get(why, why) if lang == "zh" else why
            lines.append(f"| {label} | {html.escape(b)} | {t['na']} | {html.escape(why)} | {t['na']} |")
            label = ""
    return "\n".join(lines)


def _row_label(label: str, y: float, chars: int = 50) -> str:
    """A row's label left of its bars, whole: wrapped onto lines of at most ``chars``
    characters (11 px sans-serif fits 50 in the 330 px before the bars), centred on ``y``."""
    lines = textwrap.wrap(label, chars) or [""]
    top = y - 13 * (len(lines) - 1) / 2
    spans = "".join(f'<tspan x="0" y="{top + 13 * i:.0f}">{html.escape(line)}</tspan>' for i, line in enumerate(lines))
    return f'<text x="0" y="{top:.0f}" font-size="11">{spans}</text>'


def targets(data, lang: str = "en") -> str:
    """Issue 11's targets, each with what was measured and whether it is met."""
    t = TEXT[lang]
    lines = [f"| {t['workload']} | {t['target']} | {t['measured']} | {t['verdict']} |", "|---|---|---:|:---:|"]
    for g in data.get("targets", []):
        if g["workload"] == "memory":
            what = t["at_most"].format(limit=g["at_most"], what=t[g["field"]],
                                       bytes="byte" if g["at_most"] == 1 else "bytes")
            lines.append(f"| {t['memory']} | {what} | {g['value']:.2f} | {t['met'] if g['met'] else t['missed']} |")
        else:
            label = CASES[lang].get(g["workload"], g["workload"])
            got = t["na"] if g.get("median") is None else _ratio(g)
            goal = (t["at_least"] if g["at_least"] > 1 else t["faster"]).format(n=g["at_least"], peer=g["peer"])
            lines.append(f"| {label} | {goal} | {got} | {t['met'] if g['met'] else t['missed']} |")
    return "\n".join(lines)


def memory(data, lang: str = "en") -> str:
    t = TEXT[lang]
    lines = [f"| {t['backend']} | {t['live']} | {t['after_drop']} |", "|---|---:|---:|"]
    for b, m in data.get("memory", {}).items():
        if "error" in m:
            why = REASONS_ZH.get(m["error"], m["error"]) if lang == "zh" else m["error"]
            lines.append(f"| {html.escape(b)} | {html.escape(why)} | |")
        else:
            lines.append(f"| {html.escape(b)} | {m['live']:.1f} | {m['after_drop']:.2f} |")
    return "\n".join(lines)


def machine(data, lang: str = "en") -> str:
    t = TEXT[lang]
    fields = dict(data.get("machine", {}), **data.get("versions", {}), rounds=data.get("rounds"),
                  date=data.get("date", "")[:10])
    text = t["env"].format_map(_Unknown({k: v for k, v in fields.items() if v is not None}))
    return text + (t["quick"] if data.get("quick") else "")


def compiled(data, lang: str = "en") -> str:
    """The compiled MLP step against the eager engine (how many times faster) and against
    the plain-float forward (how many times the floor): the median of the per-round
    ratios with their range, from ``mlp_step_compiled``'s times."""
    t = TEXT[lang]
    times = {b: v.get("seconds") for b, v in data["workloads"]["mlp_step_compiled"]["backends"].items()}
    lines = [f"| {t['measure']} | {t['result']} |", "|---|---|"]
    for key, fmt, top, bottom in (("vs_eager", "n_faster", "twicegrad", "twicegrad-compiled"),
                                  ("vs_floor", "n_floor", "twicegrad-compiled", "floats")):
        ratios = sorted(a / b for a, b in zip(times[top], times[bottom]))
        m = statistics.median(ratios)
        lines.append(f"| {t[key]} | {t[fmt].format(m=m, lo=ratios[0], hi=ratios[-1])} |")
    return "\n".join(lines)


class _Unknown(dict):
    """A field the results file does not have is shown as "?"."""

    def __missing__(self, key):
        return "?"


def chart(data, lang: str = "en", workloads: str | None = None, exclude: str | None = None) -> str:
    """Horizontal bars: each workload's median ratio to its reference, on a log scale."""
    timed = rows(data, workloads, exclude)
    names = backends(data, timed)
    ratios = [v["median"] for r in timed for v in r["ratios"].values()]
    lo = min(ratios + [1.0]) / 1.6
    hi = max(ratios + [1.0]) * 1.6
    bar, gap, left, width = 15, 12, 330, 380

    def x(r):
        return left + width * (math.log10(r) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    parts = [f'<text x="{left}" y="14" font-size="12">{html.escape(TEXT[lang]["chart_title"])}</text>']
    y = 26
    for r in timed:
        row_names = [b for b in names if b in r["cells"] or b in r["not_applicable"]]
        label = _label(r["case"], lang, r["description"])
        parts.append(_row_label(label, y + bar * len(row_names) / 2 + 4))
        for b in row_names:
            v = r["ratios"].get(b)
            if v:
                ratio = v["median"]
                parts.append(f'<rect x="{left}" y="{y}" width="{max(x(ratio) - left, 1):.1f}" height="{bar - 3}" '
                             f'fill="{COLOURS.get(b, "#7b1fa2")}"><title>{html.escape(b)}: {_ratio(v)}</title></rect>')
                parts.append(f'<text x="{x(ratio) + 4:.1f}" y="{y + bar - 4}" font-size="10">{ratio:.2g}×</text>')
            else:
                why = _seconds(r["cells"].get(b, TEXT[lang]["na"]))
                parts.append(f'<text x="{left + 4}" y="{y + bar - 4}" font-size="10">{html.escape(b)}: {why}</text>')
            y += bar
        y += gap
    parts.append(f'<line x1="{x(1.0):.1f}" y1="20" x2="{x(1.0):.1f}" y2="{y - gap + 3}" stroke="#888" stroke-dasharray="3,3"/>')
    per_row = (width + 50) // 150  # the legend wraps: every name stays inside the chart
    for k, b in enumerate(names):
        lx, ly = left + (k % per_row) * 150, y + 20 * (k // per_row)
        parts.append(f'<rect x="{lx}" y="{ly + 6}" width="12" height="12" fill="{COLOURS.get(b, "#7b1fa2")}"/>')
        parts.append(f'<text x="{lx + 16}" y="{ly + 17}" font-size="12">{html.escape(b)}</text>')
    h, w = y + 26 + 20 * ((len(names) - 1) // per_row), left + width + 50
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
            f'role="img" aria-label="benchmark chart" font-family="sans-serif">' + "".join(parts) + "</svg>")


_PENDING: dict[str, str] = {}


def on_page_markdown(markdown, page, config, files):
    lang = "zh" if str(config["theme"]["language"]).startswith("zh") else "en"

    def render(block):
        data = load()
        if data is None:
            return TEXT[lang]["missing"]
        part = block.attrs.get("part", "ratios")
        if part == "targets":
            return targets(data, lang)
        if part == "memory":
            return memory(data, lang)
        if part == "machine":
            return machine(data, lang)
        if part == "compiled":
            return compiled(data, lang)
        if part != "ratios":
            raise ValueError(f"benchmark block: unknown part {part!r} (ratios, targets, memory, machine or compiled)")
        only, exclude = block.attrs.get("workloads"), block.attrs.get("exclude")
        out = table(data, lang, only, exclude)
        if block.attrs.get("chart", "yes") == "yes":
            token = f"TGCHARTPLACEHOLDER{len(_PENDING):05d}X"
            _PENDING[token] = (f'<figure class="tg-chart" data-chart="benchmarks">'
                               f'{chart(data, lang, only, exclude)}</figure>')
            out += "\n\n" + token + "\n"
        return out

    return mdblocks.replace_blocks(markdown, "benchmark", render)


def on_page_content(html_text, page, config, files):
    return re.sub(r"<p>(TGCHARTPLACEHOLDER\d+X)</p>", lambda m: _PENDING.pop(m.group(1)), html_text)

"""MkDocs hook: how often torch's float64 kernels and Python's ``math`` module disagree
in the last bit, measured when the site builds, on the machine that builds it.

A fenced block whose language is ``last-bits`` is replaced by a table: for each function,
the share of inputs on which ``torch.<f>`` of a 0-dim float64 tensor and ``math.<f>``
return different doubles, and the largest difference in units in the last place (ulp).
The numbers depend on the processor (torch picks AVX-512, AVX2 or plain kernels at
run time; ``ATEN_CPU_CAPABILITY`` forces one) and on the platform's libm, so the table
names the processor, the kernels and the versions it was measured with. Without torch
the page says so, and the build still passes.
"""

from __future__ import annotations

import math
import platform
import random
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # for mdblocks, beside this file
    sys.path.append(str(Path(__file__).resolve().parent))
import mdblocks

FUNCTIONS = ("sqrt", "exp", "log", "tanh", "sin", "cos")
POSITIVE_ONLY = ("sqrt", "log")  # measured on |x|: torch and math agree that the rest is nan
N = 20_000
LOW, HIGH = -3.0, 3.0

TEXT = {
    "en": {
        "missing": ('!!! note "Not measured"\n\n'
                    "    torch is not installed where this site was built, so the share of inputs "
                    "on which it differs from Python's `math` module could not be measured."),
        "function": "function", "inputs": "inputs", "differ": "last bit differs", "ulps": "largest difference",
        "range": "{n:,} in ({lo:g}, {hi:g})",
        "machine": ("Measured when this site was built, on {cpu} with torch {torch} using its {cap} kernels "
                    "and Python {python} ({libc}). Another processor or libm gives other shares."),
    },
    "zh": {
        "missing": ('!!! note "未测量"\n\n'
                    "    构建本网站的环境没有安装 torch，因此无法测量它与 Python `math` 模块结果不同的输入比例。"),
        "function": "函数", "inputs": "输入", "differ": "最后一位不同", "ulps": "最大差值",
        "range": "{n:,} 个，取自 ({lo:g}, {hi:g})",
        "machine": ("本表在构建网站时测得：处理器 {cpu}，torch {torch}（{cap} 内核），"
                    "Python {python}（{libc}）。换一种处理器或 libm，比例会不同。"),
    },
}


def inputs(function: str, n: int = N) -> list[float]:
    """``n`` reproducible inputs for ``function``, uniform in (LOW, HIGH)."""
    rng = random.Random(0)
    xs = [rng.uniform(LOW, HIGH) for _ in range(n)]
    return [abs(x) for x in xs] if function in POSITIVE_ONLY else xs


def cpu_model() -> str:
    """The processor's model name, as the operating system reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "an unknown processor"


def measure(n: int = N) -> dict | None:
    """Compare torch with ``math`` on ``n`` inputs per function; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    functions = {}
    for name in FUNCTIONS:
        torch_f, math_f = getattr(torch, name), getattr(math, name)
        differ, worst = 0, 0.0
        xs = inputs(name, n)
        for x in xs:
            theirs = torch_f(torch.tensor(x, dtype=torch.float64)).item()
            ours = math_f(x)
            if theirs != ours:
                differ += 1
                worst = max(worst, abs(theirs - ours) / math.ulp(ours))
        functions[name] = {"differ": differ / len(xs), "max_ulps": worst}
    libc = " ".join(platform.libc_ver()).strip() or sys.platform
    return {"n": n, "cpu": cpu_model(), "torch": torch.__version__,
            "capability": torch.backends.cpu.get_cpu_capability(),
            "python": platform.python_version(), "libc": libc, "functions": functions}


def _share(fraction: float) -> str:
    if fraction == 0:
        return "0%"
    return f"{100 * fraction:.2g}%"


def table(data: dict | None, lang: str = "en") -> str:
    t = TEXT[lang]
    if data is None:
        return t["missing"]
    lines = [f"| {t['function']} | {t['inputs']} | {t['differ']} | {t['ulps']} |", "|---|---|---:|---:|"]
    for name, row in data["functions"].items():
        lo = 0.0 if name in POSITIVE_ONLY else LOW
        span = t["range"].format(n=data["n"], lo=lo, hi=HIGH)
        lines.append(f"| `{name}` | {span} | {_share(row['differ'])} | {row['max_ulps']:g} ulp |")
    machine = t["machine"].format(cpu=data["cpu"], torch=data["torch"], cap=data["capability"],
                                  python=data["python"], libc=data["libc"])
    return "\n".join(lines + ["", machine])


_MEASURED: list[dict | None] = []  # once per build: the English and Chinese pages share it


def on_page_markdown(markdown, page, config, files):
    if "```last-bits" not in markdown:
        return markdown
    lang = "zh" if str(config["theme"]["language"]).startswith("zh") else "en"
    if not _MEASURED:
        _MEASURED.append(measure())
    return mdblocks.replace_blocks(markdown, "last-bits", lambda block: table(_MEASURED[0], lang))

"""Benchmark twicegrad against its peers: interleaved rounds, CPU time, median of ratios.

The method (issue 11):

- every ``benchmarks/cases_*.py`` module defines ``CASES``: workload name -> backend
  name -> factory. ``factory()`` does the untimed setup and returns ``run``; ``run()``
  is one timed repetition and returns the numbers it computed. A workload's reference
  is its first backend, or ``REFERENCE[workload]`` when the module defines it;
- each (round, backend) runs in a fresh ``python`` process: it calls ``factory()()``
  once to warm up, collects that garbage, calls ``factory()`` again and times ``run()``
  with ``time.process_time()`` (CPU time, the garbage collector on, at its defaults);
- one repetition per backend per round, in an order shuffled per round (seeded), so
  that a noisy moment of the machine falls on one round, not on one backend;
- each round gives a ratio per backend, its time over the reference's time in that
  round; the report is the median of those ratios over the rounds (9 by default) and
  their range, min-max;
- every backend's numbers must agree with the reference's (relative 1e-9, or 1e-12
  apart near zero), or the run is void: the script says which and exits with status 1.

Memory (the ``MEMORY`` table of a case module) is measured once per backend, in its own
process, with tracemalloc: bytes per node while the graph lives, and after its output
is dropped, with no gc.collect().

    python benchmarks/bench.py                    # 9 rounds, writes benchmarks/results.json
    python benchmarks/bench.py --rounds 15 --only mlp_step --only memory
    python benchmarks/bench.py --quick            # 1 round, small sizes (the test suite's smoke run)

Case modules read ``$TWICEGRAD_BENCH_QUICK`` (``1`` under --quick) to pick their sizes.
"""

from __future__ import annotations

import argparse
import gc
import glob
import importlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime, timezone
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
QUICK_ENV = "TWICEGRAD_BENCH_QUICK"
REL_TOL = 1e-9
#: Numbers that cancel to zero (an output bias's gradient) come out 0.0 or 1e-18 by the
#: order a backend sums in (micrograd's order follows its sets' hashes): that is agreement.
ABS_TOL = 1e-12
PEERS = ["micrograd", "omnigrad", "ad", "torch"]


# ---------------------------------------------------------------------------------
# Finding the cases
# ---------------------------------------------------------------------------------

def _import(module: str):
    for path in (ROOT, HERE):
        if path not in sys.path:
            sys.path.insert(0, path)
    return importlib.import_module(module)


def case_modules() -> list[str]:
    """The names of every benchmarks/cases_*.py module, sorted."""
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, "cases_*.py")))


def collect() -> dict[str, dict]:
    """workload -> {module, backends (reference first), reference, description}."""
    workloads: dict[str, dict] = {}
    for name in case_modules():
        module = _import(name)
        reference = getattr(module, "REFERENCE", {})
        for workload, backends in module.CASES.items():
            if workload in workloads:
                raise ValueError(f"workload {workload!r} is defined by both {workloads[workload]['module']} and {name}")
            names = list(backends)
            ref = reference.get(workload, names[0])
            if ref not in backends:
                raise ValueError(f"{name}: the reference {ref!r} of {workload!r} is not one of its backends {names}")
            workloads[workload] = {
                "module": name,
                "reference": ref,
                "backends": [ref] + [b for b in names if b != ref],
                "description": getattr(module, "DESCRIPTIONS", {}).get(workload, workload),
                "not_applicable": getattr(module, "NOT_APPLICABLE", {}).get(workload, {}),
            }
    return workloads


# ---------------------------------------------------------------------------------
# The child: one timed repetition, or one memory measurement
# ---------------------------------------------------------------------------------

def _numbers(result) -> list[float]:
    values = result if isinstance(result, (list, tuple)) else [result]
    return [float(v) for v in values]


def child_time(module: str, workload: str, backend: str) -> dict:
    factory = _import(module).CASES[workload][backend]
    factory()()          # warm-up: imports, caches, one-time start-up costs
    gc.collect()         # start the timed repetition without the warm-up's garbage
    run = factory()
    start = time.process_time()
    result = run()
    seconds = time.process_time() - start
    return {"seconds": seconds, "check": _numbers(result)}


def child_memory(module: str, backend: str) -> dict:
    build = _import(module).MEMORY[backend]()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    out, nodes = build()
    live = tracemalloc.get_traced_memory()[0] - base
    del out                                     # no gc.collect(): only reference counting frees
    dropped = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"nodes": nodes, "live": live / nodes, "after_drop": dropped / nodes}


def spawn(args: list[str], quick: bool) -> dict:
    """Run this script as a child with ``args``; its last stdout line is JSON."""
    env = dict(os.environ, **{QUICK_ENV: "1" if quick else "0"})
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"error": last[:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------
# The parent: interleaved rounds, ratios, agreement
# ---------------------------------------------------------------------------------

def agree(a: list[float], b: list[float]) -> bool:
    import math
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=REL_TOL, abs_tol=ABS_TOL) for x, y in zip(a, b))


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def time_workload(name: str, spec: dict, rounds: int, rnd: random.Random, quick: bool) -> dict:
    ref = spec["reference"]
    times: dict[str, list] = {b: [] for b in spec["backends"]}
    checks: dict[str, list] = {}
    errors: dict[str, str] = {}
    orders = []
    for r in range(rounds):
        order = list(spec["backends"])
        rnd.shuffle(order)
        orders.append(order)
        for b in order:
            got = spawn(["--child", spec["module"], name, b], quick) if b not in errors else {"error": errors[b]}
            if "error" in got:
                errors[b] = got["error"]
                times[b].append(None)
                continue
            times[b].append(got["seconds"])
            checks.setdefault(b, got["check"])
        line = "  ".join(f"{b} {times[b][-1]:.4f}s" if times[b][-1] is not None else f"{b} error"
                         for b in spec["backends"])
        print(f"  {name} round {r + 1}/{rounds}: {line}", file=sys.stderr, flush=True)

    backends = {}
    for b in spec["backends"]:
        entry: dict = {"seconds": times[b]}
        if b in errors:
            entry["error"] = errors[b]
        else:
            entry["median_seconds"] = statistics.median(times[b])
            entry["check"] = checks[b]
            entry["agrees"] = ref in checks and agree(checks[b], checks[ref])
            if b != ref and ref not in errors:
                ratios = [t / t_ref for t, t_ref in zip(times[b], times[ref])]
                entry["ratio"] = dict(summary(ratios), per_round=ratios)
        backends[b] = entry
    return {"module": spec["module"], "description": spec["description"], "reference": ref,
            "order": orders, "backends": backends, "not_applicable": spec["not_applicable"]}


def measure_memory(quick: bool) -> dict:
    out = {}
    for name in case_modules():
        module = _import(name)
        for b in getattr(module, "MEMORY", {}):
            out[b] = spawn(["--memory", name, b], quick)
            print(f"  memory {b}: {out[b]}", file=sys.stderr, flush=True)
        for b, why in getattr(module, "MEMORY_NOT_APPLICABLE", {}).items():
            out.setdefault(b, {"error": f"n/a: {why}"})
    return out


def judge_targets(report: dict) -> list[dict]:
    """Issue 11's targets (from the case modules' TARGETS), each met or missed."""
    judged = []
    for name in case_modules():
        module = _import(name)
        for t in getattr(module, "TARGETS", []):
            if t["workload"] not in report["workloads"]:
                continue  # not run (--only)
            entry = report["workloads"].get(t["workload"], {}).get("backends", {}).get(t["peer"], {})
            ratio = entry.get("ratio")
            if ratio is None:
                judged.append(dict(t, median=None, min=None, max=None, met=False))
                continue
            # "at least 6x" is met at 6.0; "faster than" (at_least 1) needs more than 1.0
            met = ratio["median"] >= t["at_least"] if t["at_least"] > 1.0 else ratio["median"] > 1.0
            judged.append(dict(t, median=ratio["median"], min=ratio["min"], max=ratio["max"], met=met))
        for field, limit in getattr(module, "MEMORY_TARGETS", {}).items():
            value = report.get("memory", {}).get("twicegrad", {}).get(field)
            if value is not None:
                judged.append({"workload": "memory", "field": field, "at_most": limit, "value": value,
                               "met": value <= limit})
    return judged


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "system": f"{platform.system()} {platform.machine()}"}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in PEERS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def table(report: dict) -> str:
    lines = [f"{'workload':20s} {'backend':30s} {'median CPU s':>13s}   ratio to the reference: median (min-max)"]
    for name, w in report["workloads"].items():
        for b, e in w["backends"].items():
            if "error" in e:
                lines.append(f"{name:20s} {b:30s} {'error':>13s}   {e['error']}")
                continue
            ratio = "reference" if b == w["reference"] else \
                f"{e['ratio']['median']:.2f}x ({e['ratio']['min']:.2f}-{e['ratio']['max']:.2f})"
            flag = "" if e["agrees"] else "   DISAGREES with the reference"
            lines.append(f"{name:20s} {b:30s} {e['median_seconds']:13.4f}   {ratio}{flag}")
        for b, why in w["not_applicable"].items():
            lines.append(f"{name:20s} {b:30s} {'n/a':>13s}   {why}")
    for b, m in report.get("memory", {}).items():
        what = m.get("error") or f"{m['live']:.1f} bytes/node live, {m['after_drop']:.2f} after the output is dropped"
        lines.append(f"{'memory':20s} {b:30s} {'':13s}   {what}")
    if report["targets"]:
        lines.append("targets (issue 11):")
    for t in report["targets"]:
        if t["workload"] == "memory":
            lines.append(f"  memory {t['field']} <= {t['at_most']:g} bytes/node: {t['value']:.2f}: "
                         + ("met" if t["met"] else "MISSED"))
        else:
            got = "n/a" if t["median"] is None else f"{t['median']:.2f}x ({t['min']:.2f}-{t['max']:.2f})"
            lines.append(f"  {t['workload']} {t['text']}: {got}: " + ("met" if t["met"] else "MISSED"))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds (at least 9 for a result; default 9)")
    ap.add_argument("--only", action="append", metavar="WORKLOAD",
                    help="run only this workload ('memory' for the memory measurement); repeatable")
    ap.add_argument("--quick", action="store_true", help="1 round, small sizes: a smoke run, not a measurement")
    ap.add_argument("--seed", type=int, default=11, help="seed of the per-round backend order")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"), help="where to write the JSON results")
    ap.add_argument("--child", nargs=3, metavar=("MODULE", "WORKLOAD", "BACKEND"), help=argparse.SUPPRESS)
    ap.add_argument("--memory", nargs=2, metavar=("MODULE", "BACKEND"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(child_time(*args.child)))
        return 0
    if args.memory:
        print(json.dumps(child_memory(*args.memory)))
        return 0

    rounds = 1 if args.quick else args.rounds
    if rounds < 1:
        ap.error("--rounds must be at least 1")
    workloads = collect()
    only = args.only or list(workloads) + ["memory"]
    unknown = [w for w in only if w not in workloads and w != "memory"]
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(list(workloads) + ['memory'])}")

    rnd = random.Random(args.seed)
    report: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "quick": args.quick,
        "rounds": rounds,
        "seed": args.seed,
        "method": "interleaved rounds; each (round, backend) in a fresh process; one repetition each per round "
                  "after one warm-up; CPU time (time.process_time) around run() only; garbage collector on, "
                  "defaults; order shuffled per round; median and min-max of per-round ratios to the reference",
        "workloads": {},
    }
    for name, spec in workloads.items():
        if name in only:
            report["workloads"][name] = time_workload(name, spec, rounds, rnd, args.quick)
    if "memory" in only:
        report["memory"] = measure_memory(args.quick)
    report["targets"] = judge_targets(report)
    report["table"] = table(report)
    print(report["table"])
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")

    void = [f"{w}/{b}" for w, spec in report["workloads"].items() for b, e in spec["backends"].items()
            if "error" not in e and not e["agrees"]]
    if void:
        print(f"VOID: these backends computed other numbers than the reference: {', '.join(void)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

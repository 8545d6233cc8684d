"""The benchmark script runs (one round, small sizes) and every backend computed the same numbers.

Not a timing test: nothing here looks at how long anything took. It keeps
benchmarks/bench.py and its case modules from rotting, checks the shape of what it
writes (the Performance page renders that file), and checks that each backend ran the
same math as its workload's reference, compared here again from the raw numbers.
"""

import doctest
import os
import importlib
import json
import math
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.append(str(BENCH))  # appended: never shadows an installed module
import bench  # noqa: E402


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run([sys.executable, str(BENCH / "bench.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout


def test_every_case_module_and_workload_ran(quick):
    report, _ = quick
    expected = {w for name in bench.case_modules() for w in importlib.import_module(name).CASES}
    assert {"mlp_step", "dag_build", "dag_backward", "chain", "second_derivative", "gc_dag"} <= expected
    assert set(report["workloads"]) == expected
    assert report["quick"] is True and report["rounds"] == 1
    assert report["machine"]["cpu"] and report["versions"]["python"]


def test_backends_agree_with_their_reference(quick):
    report, _ = quick
    for name, w in report["workloads"].items():
        ref = w["backends"][w["reference"]]
        assert "error" not in ref, (name, ref)
        for b, entry in w["backends"].items():
            if "error" in entry:
                continue
            assert entry["agrees"] is True, (name, b)
            assert len(entry["check"]) == len(ref["check"]) > 0
            for got, want in zip(entry["check"], ref["check"]):
                assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (name, b, got, want)


def test_peers_ran_where_they_can_and_failed_where_they_cannot(quick):
    report, _ = quick
    w = report["workloads"]
    assert set(w["dag_backward"]["backends"]) == {"twicegrad", "micrograd", "omnigrad"}
    assert set(w["second_derivative"]["backends"]) == {"twicegrad", "torch", "ad"}
    for peer in ("micrograd", "omnigrad"):  # their recursive topological sorts
        assert "RecursionError" in w["chain"]["backends"][peer]["error"]
    assert "error" not in w["chain"]["backends"]["torch"]


def test_ratios_are_per_round_times_over_the_reference(quick):
    report, _ = quick
    for w in report["workloads"].values():
        ref_times = w["backends"][w["reference"]]["seconds"]
        assert len(ref_times) == 1 and len(w["order"]) == 1
        for b, entry in w["backends"].items():
            if b == w["reference"] or "error" in entry:
                continue
            ratio = entry["ratio"]
            assert ratio["per_round"] == [t / r for t, r in zip(entry["seconds"], ref_times)]
            assert ratio["min"] <= ratio["median"] <= ratio["max"]


def test_memory_and_targets(quick):
    report, table = quick
    mem = report["memory"]
    assert mem["twicegrad"]["live"] > 0 and mem["micrograd"]["live"] > 0
    # micrograd's closures hold their outputs (reference cycles): nothing is freed without the collector
    assert mem["micrograd"]["after_drop"] > 0.9 * mem["micrograd"]["live"]
    assert mem["torch"]["error"].startswith("n/a")
    judged = {(t["workload"], t.get("peer", t.get("field"))) for t in report["targets"]}
    assert ("mlp_step", "micrograd") in judged and ("memory", "live") in judged
    assert "ratio to the reference: median (min-max)" in table and "targets (issue 11):" in table


def test_case_modules_doctests():
    for name in bench.case_modules():
        result = doctest.testmod(importlib.import_module(name))
        assert result.failed == 0, name
        if name in ("cases_core", "cases_gc"):
            assert result.attempted > 0, f"{name} has no example in its docstring"


def test_unknown_workload_is_refused():
    proc = subprocess.run([sys.executable, str(BENCH / "bench.py"), "--only", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown workload(s) nope" in proc.stderr


def test_a_disagreeing_backend_voids_the_run():
    assert bench.agree([1.0, 2.0], [1.0, 2.0 * (1 + 1e-12)])
    assert not bench.agree([1.0, 2.0], [1.0, 2.0001])
    assert not bench.agree([1.0], [1.0, 2.0])


def test_instruction_counts_are_the_same_on_every_run():
    """benchmarks/instructions.py exists to compare two trees on a noisy machine: its
    count of one repetition must come out the same for the same tree, run twice."""
    proc = subprocess.run([sys.executable, str(BENCH / "instructions.py"), "dag_build", "--tree", str(ROOT)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, bench.QUICK_ENV: "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = [int(line.split(": ")[1].split()[0].replace(",", "")) for line in proc.stdout.splitlines()]
    assert len(counts) == 2 and counts[0] > 1_000_000
    assert abs(counts[1] - counts[0]) <= counts[0] // 1000, counts


def test_the_tracing_time_script_runs():
    """benchmarks/trace_time.py is where the Tracing and compiling page's tracing time
    comes from (a smoke run: one process; the time itself is not judged here)."""
    proc = subprocess.run([sys.executable, str(BENCH / "trace_time.py"), "--runs", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("tracing the per-sample loss: ") and "median of 1 fresh processes" in proc.stdout

"""The benchmark script runs (at tiny sizes) and its backends compute the same numbers.

Not a timing test: it keeps benchmarks/bench.py from rotting and checks that the
three backends ran the same program (their losses and gradients agree).
"""

import json
import math
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_quick_benchmark_runs_and_backends_agree(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    res = report["results"]
    assert set(res) == {"mlp_step", "dag", "chain", "second_derivative", "memory"}
    for case in ("mlp_step", "dag"):
        checks = [res[case][b]["check"] for b in ("twicegrad", "micrograd", "torch")]
        assert all(math.isclose(c, checks[0], rel_tol=1e-9, abs_tol=1e-12) for c in checks), (case, checks)
    for case in ("chain", "second_derivative"):
        assert math.isclose(res[case]["twicegrad"]["check"], res[case]["torch"]["check"], rel_tol=1e-9, abs_tol=1e-15)
    assert res["second_derivative"]["micrograd"]["error"] == "no higher-order derivatives"
    assert res["memory"]["twicegrad"]["live"] > 0
    assert "ratio vs twicegrad" in report["table"]

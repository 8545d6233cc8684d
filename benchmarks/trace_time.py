"""How long tracing the compiled benchmark's per-sample loss takes (issue 12: < 0.1 s).

Each repetition is a fresh process that builds the MLP of ``cases_compiled``, traces a
first compiled function (the warm-up: imports, caches), then times the first call of a
second, new compiled function: the trace, code generation, ``compile`` and the warm-up
of the generated code.  CPU time; the median and range over the processes:

    python benchmarks/trace_time.py            # 15 processes
    python benchmarks/trace_time.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child() -> float:
    sys.path[:0] = [os.path.dirname(HERE), HERE]
    import cases_compiled as cases
    import engine

    layers, _, inputs, y = cases._engine_setup()

    def sample_loss(x, yi):
        return (1 + -yi * cases.forward(layers, x)).relu()

    engine.compile(sample_loss)(inputs[0], y[0])  # warm-up
    fresh = engine.compile(sample_loss)
    start = time.process_time()
    fresh(inputs[0], y[0])
    return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(child())
        return
    times = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"],
                             capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    ms = sorted(t * 1000 for t in times)
    print(f"tracing the per-sample loss: {statistics.median(ms):.1f} ms CPU "
          f"({ms[0]:.1f}-{ms[-1]:.1f} ms, median of {len(ms)} fresh processes)")


if __name__ == "__main__":
    main()

"""Count the instructions one repetition of a workload executes, with valgrind's callgrind.

On a shared, noisy machine two versions of the engine a few percent apart cannot be
told apart by time in a reasonable number of rounds (ranges of 0.6-2.2 are common).
The number of machine instructions executed is the same on every run, so it tells
whether a change does less work, and ``callgrind_annotate`` on a saved profile tells
where. It is not time: a cache miss or a mispredicted branch counts for nothing, and
the targets are judged by ``bench.py``'s CPU times, never by this.

    python benchmarks/instructions.py mlp_step                   # this tree
    python benchmarks/instructions.py mlp_step --tree ../before  # and another tree, side by side
    python benchmarks/instructions.py chain --backend torch --keep /tmp/chain.cg

A repetition's count is the count of a process that warms up, sets up and runs it once,
less the count of the same process without the run. Needs ``valgrind`` (Debian's
package); nothing in the tests uses it.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def child(tree: str, workload: str, backend: str, run_it: bool) -> None:
    """Warm up and set up ``workload`` as bench.py's timed child does, with ``tree``'s
    engine and cases; run it if asked."""
    sys.path[:0] = [tree, os.path.join(tree, "benchmarks")]
    import bench
    spec = bench.collect()[workload]
    factory = bench._import(spec["module"]).CASES[workload][backend]
    factory()()
    gc.collect()
    run = factory()
    if run_it:
        run()


def count(tree: str, workload: str, backend: str, run_it: bool, keep: str | None = None) -> int:
    out = keep if keep and run_it else "/dev/null"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
           os.path.abspath(__file__), "--child", tree, workload, backend, str(int(run_it))]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tree,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"callgrind failed in {tree}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", nargs="?")
    ap.add_argument("--backend", default="twicegrad")
    ap.add_argument("--tree", action="append", default=[],
                    help="another checkout to count too (repeatable); this one is always counted")
    ap.add_argument("--keep", help="save this tree's callgrind profile of the run here")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        tree, workload, backend, run_it = args.child
        child(tree, workload, backend, run_it == "1")
        return
    if args.workload is None:
        ap.error("name a workload (see benchmarks/cases_*.py)")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    trees = [os.path.dirname(HERE)] + [os.path.abspath(t) for t in args.tree]
    first = None
    for tree in trees:
        n = (count(tree, args.workload, args.backend, True, args.keep if tree == trees[0] else None)
             - count(tree, args.workload, args.backend, False))
        first = first or n
        print(f"{args.workload} [{args.backend}] {tree}: {n:,} instructions"
              + ("" if n == first else f" ({n / first:.3f}x the first)"))


if __name__ == "__main__":
    main()

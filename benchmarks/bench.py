"""Benchmark twicegrad against micrograd 0.1.0 and torch (0-dim float64), side by side.

Each case runs the *same program* on every backend in one process, with Python's
garbage collector on (as users have it), and reports the best of a few repeats and
ratios against twicegrad.  Timings on a shared machine are noisy: compare ratios
within one run, not seconds across runs.

    python benchmarks/bench.py              # full sizes, writes benchmarks/results.json
    python benchmarks/bench.py --quick      # tiny sizes (what the test suite runs)

Cases (issue 3):
  a  micrograd's demo step: MLP 2-16-16-1 (tanh), 100 samples, forward + backward + SGD
  b  a 100,000-node random DAG (every node an ancestor of the output): build and
     backward timed apart
  c  a 100,000-step chain y = tanh(y*1.0001 + 0.1): build + backward
  d  second derivatives through a 5,000-node graph (grad with create_graph, then grad)
  e  bytes per node of the random DAG of (b) (tracemalloc): while the graph lives, after
     backward, after the output is dropped (no gc.collect()).  What is left after the
     drop is the 500 leaves with their .grad (and CPython's free lists), not graph
     objects.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
import tracemalloc
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.setrecursionlimit(1000)  # the default: micrograd's recursive topological sort meets it

import engine  # noqa: E402


# ---------------------------------------------------------------------------------
# Backends: how to make a parameter, a constant, read a gradient, reset it
# ---------------------------------------------------------------------------------

def micrograd_value():
    """micrograd's Value with tanh and exp added in its own closure style."""
    import math

    from micrograd.engine import Value

    if not hasattr(Value, "tanh"):
        def tanh(self):
            t = math.tanh(self.data)
            out = Value(t, (self,), "tanh")

            def _backward():
                self.grad += (1 - t * t) * out.grad
            out._backward = _backward
            return out

        def exp(self):
            e = math.exp(self.data)
            out = Value(e, (self,), "exp")

            def _backward():
                self.grad += e * out.grad
            out._backward = _backward
            return out

        Value.tanh = tanh
        Value.exp = exp
    return Value


class Backend:
    name: str

    def param(self, x):
        raise NotImplementedError

    def const(self, x):
        raise NotImplementedError


class Twicegrad(Backend):
    name = "twicegrad"

    def param(self, x):
        return engine.Value(x, requires_grad=True)

    def const(self, x):
        return engine.Value(x)

    def grad(self, p):
        return p.grad.data

    def zero(self, p):
        p.grad = None

    def sgd(self, params, lr):
        for p in params:
            p.data -= lr * p.grad.data

    def second_derivative(self, f, x0):
        x = self.param(x0)
        g, = engine.grad(f(x), x, create_graph=True)
        gg, = engine.grad(g, x)
        return gg.data


class Micrograd(Backend):
    name = "micrograd"

    def __init__(self):
        self.V = micrograd_value()

    def param(self, x):
        return self.V(x)

    const = param

    def grad(self, p):
        return p.grad

    def zero(self, p):
        p.grad = 0.0

    def sgd(self, params, lr):
        for p in params:
            p.data -= lr * p.grad


class Torch(Backend):
    name = "torch"

    def __init__(self):
        import torch
        self.torch = torch

    def param(self, x):
        return self.torch.tensor(x, dtype=self.torch.float64, requires_grad=True)

    def const(self, x):
        return self.torch.tensor(x, dtype=self.torch.float64)

    def grad(self, p):
        return p.grad.item()

    def zero(self, p):
        p.grad = None

    def sgd(self, params, lr):
        with self.torch.no_grad():
            for p in params:
                p -= lr * p.grad

    def second_derivative(self, f, x0):
        x = self.param(x0)
        g, = self.torch.autograd.grad(f(x), x, create_graph=True)
        gg, = self.torch.autograd.grad(g, x)
        return gg.item()


def best_of(repeats: int, fn):
    """The best wall time of ``repeats`` runs of ``fn() -> seconds or (seconds, ...)``."""
    return min(fn() for _ in range(repeats))


# ---------------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------------

def make_moons(n: int, seed: int = 1):
    rnd = random.Random(seed)
    X, y = [], []
    for i in range(n):
        import math
        t = math.pi * rnd.random()
        if i % 2:
            X.append((math.cos(t) + rnd.gauss(0, 0.1), math.sin(t) + rnd.gauss(0, 0.1)))
            y.append(1)
        else:
            X.append((1 - math.cos(t) + rnd.gauss(0, 0.1), 0.5 - math.sin(t) + rnd.gauss(0, 0.1)))
            y.append(-1)
    return X, y


def case_mlp(b: Backend, samples: int, repeats: int):
    """(a) One training step of micrograd's demo: MLP 2-16-16-1 with tanh."""
    rnd = random.Random(0)
    sizes = [2, 16, 16, 1]
    layers = [[([b.param(rnd.uniform(-1, 1)) for _ in range(sizes[i])], b.param(0.0))
               for _ in range(sizes[i + 1])] for i in range(3)]
    params = [p for layer in layers for w, bias in layer for p in w + [bias]]
    X, y = make_moons(samples)
    inputs = [[b.const(a), b.const(c)] for a, c in X]

    def forward(x):
        for li, layer in enumerate(layers):
            out = []
            for w, bias in layer:
                act = sum((wi * xi for wi, xi in zip(w, x)), bias)
                out.append(act.tanh() if li < 2 else act)
            x = out
        return x[0]

    losses = []

    def step():
        t = time.perf_counter()
        scores = [forward(x) for x in inputs]
        data_loss = sum((1 + -yi * si).relu() for yi, si in zip(y, scores)) * (1.0 / len(y))
        loss = data_loss + 1e-4 * sum(p * p for p in params)
        for p in params:
            b.zero(p)
        loss.backward()
        b.sgd(params, 0.05)
        losses.append(loss.item() if hasattr(loss, "item") else loss.data)
        return time.perf_counter() - t

    step()  # warm up
    seconds = best_of(repeats, step)
    return {"seconds": seconds, "check": losses[-1]}


def random_dag(b: Backend, n: int, width: int = 500, seed: int = 0):
    """About ``n`` op nodes in layers of ``width`` over ``width`` leaves: node i of a
    layer combines node i and a random node of the layer before, with a random op,
    and the last layer is summed pairwise.  Every node is an ancestor of the output,
    and the graph is shallow enough (about 2n/width + log2(width) levels) for
    micrograd's recursive topological sort."""
    rnd = random.Random(seed)
    leaves = [b.param(rnd.uniform(-1, 1)) for _ in range(width)]
    layer, made = leaves, 0
    while made < n - width:
        new = []
        for a in layer:
            c = layer[rnd.randrange(width)]
            r = rnd.random()
            if r < 0.4:
                new.append(a * c)
                made += 1
            elif r < 0.8:
                new.append((a + c).tanh())
                made += 2
            else:
                new.append(a * 0.5 - c)
                made += 2
        layer = new
    while len(layer) > 1:  # pairwise sum: depth log2(width)
        layer = [layer[i] + layer[i + 1] if i + 1 < len(layer) else layer[i] for i in range(0, len(layer), 2)]
        made += len(layer)
    return leaves, layer[0], made


def case_dag(b: Backend, n: int, repeats: int):
    """(b) Build a random DAG and run backward, timed apart."""
    best_build = best_back = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        leaves, out, _ = random_dag(b, n)
        t1 = time.perf_counter()
        out.backward()
        t2 = time.perf_counter()
        best_build, best_back = min(best_build, t1 - t0), min(best_back, t2 - t1)
        check = b.grad(leaves[0])
        del leaves, out
    return {"build": best_build, "backward": best_back, "check": check}


def case_chain(b: Backend, n: int, repeats: int):
    """(c) y = tanh(y*1.0001 + 0.1), n steps deep, then backward."""
    def run():
        t = time.perf_counter()
        x = b.param(0.5)
        y = x
        for _ in range(n):
            y = (y * 1.0001 + 0.1).tanh()
        y.backward()
        run.check = b.grad(x)
        return time.perf_counter() - t
    try:
        seconds = best_of(repeats, run)
    except RecursionError:
        return {"seconds": None, "error": "RecursionError"}
    return {"seconds": seconds, "check": run.check}


def case_second_derivative(b: Backend, n: int, repeats: int):
    """(d) d2y/dx2 through a chain of ~n nodes (create_graph, then grad again)."""
    if not hasattr(b, "second_derivative"):
        return {"seconds": None, "error": "no higher-order derivatives"}

    def f(x):
        y = x
        for _ in range(n // 3):
            y = (y * 1.0001 + 0.1).tanh()
        return y

    def run():
        t = time.perf_counter()
        run.check = b.second_derivative(f, 0.5)
        return time.perf_counter() - t
    return {"seconds": best_of(repeats, run), "check": run.check}


def case_memory(b: Backend, n: int):
    """(e) Bytes per node seen by tracemalloc: live graph, after backward, after drop."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    leaves, y, nodes = random_dag(b, n)
    live = tracemalloc.get_traced_memory()[0] - base
    y.backward()
    after_backward = tracemalloc.get_traced_memory()[0] - base
    del y
    dropped = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del leaves
    gc.collect()
    return {"live": live / nodes, "after_backward": after_backward / nodes, "after_drop": dropped / nodes}


# ---------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------

def run(quick: bool) -> dict:
    sizes = dict(samples=10, dag=2_000, chain=2_000, second=300, memory=6_000, repeats=1) if quick else \
        dict(samples=100, dag=100_000, chain=100_000, second=5_000, memory=100_000, repeats=3)
    backends = [Twicegrad(), Micrograd(), Torch()]
    results = {}

    def record(case: str, fn):
        results[case] = {}
        for b in backends:
            gc.collect()
            try:
                results[case][b.name] = fn(b)
            except RecursionError:
                results[case][b.name] = {"error": "RecursionError"}
            print(f"  {case:8s} {b.name:10s} {results[case][b.name]}", file=sys.stderr)

    r = sizes["repeats"]
    record("mlp_step", lambda b: case_mlp(b, sizes["samples"], r))
    record("dag", lambda b: case_dag(b, sizes["dag"], r))
    record("chain", lambda b: case_chain(b, sizes["chain"], r) if b.name != "micrograd"
           else _micrograd_chain(b, sizes["chain"]))
    record("second_derivative", lambda b: case_second_derivative(b, sizes["second"], r))
    record("memory", lambda b: case_memory(b, sizes["memory"]) if b.name != "torch"
           else {"error": "torch allocates in C++, invisible to tracemalloc"})
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "quick": quick,
        "sizes": sizes,
        "results": results,
    }


def _micrograd_chain(b, n):
    try:
        return case_chain(b, n, 1)
    except RecursionError:
        return {"seconds": None, "error": "RecursionError"}


ROWS = [
    # (label, case, field, lower is better, target text, target: twicegrad at least this many times better)
    ("(a) MLP demo step, s", "mlp_step", "seconds", "micrograd", 5.0),
    ("(b) random DAG build, s", "dag", "build", "micrograd", 1.0),
    ("(b) random DAG backward, s", "dag", "backward", "micrograd", 1.0),
    ("(c) 100k chain, s", "chain", "seconds", "torch", 2.0),
    ("(d) second derivative, s", "second_derivative", "seconds", "torch", 3.0),
    ("(e) bytes/node, live", "memory", "live", None, None),
    ("(e) bytes/node, after backward", "memory", "after_backward", None, None),
    ("(e) bytes/node, after drop", "memory", "after_drop", None, None),
]


def table(report: dict) -> str:
    res = report["results"]
    names = ["twicegrad", "micrograd", "torch"]
    lines = [f"{'case':34s}" + "".join(f"{n:>14s}" for n in names) + "   ratio vs twicegrad (target)"]
    for label, case, field, vs, target in ROWS:
        cells, values = [], {}
        for n in names:
            entry = res[case].get(n, {})
            v = entry.get(field)
            values[n] = v
            cells.append(f"{v:14.4f}" if isinstance(v, float) and v < 10 else
                         f"{v:14.1f}" if isinstance(v, float) else f"{entry.get('error', '-')[:13]:>14s}")
        note = ""
        if vs and values.get(vs) and values.get("twicegrad"):
            ratio = values[vs] / values["twicegrad"]
            ok = "met" if ratio >= target else "MISSED"
            note = f"   {vs} / twicegrad = {ratio:.2f}x (target >= {target:g}x: {ok})"
        lines.append(f"{label:34s}" + "".join(cells) + note)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"), help="where to write the JSON results")
    args = ap.parse_args(argv)
    report = run(args.quick)
    report["table"] = table(report)
    print(report["table"])
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The workloads of issue 11's target table, on twicegrad and its peers.

Each workload is one program written once and run on every backend through that
backend's natural API (a Value class with ``.tanh()``, ``+``, ``*``; ``ad``'s
``admath.tanh``; torch's 0-dim float64 tensors). ``CASES[workload][backend]`` is a
factory: calling it does the untimed setup and returns ``run``, one timed repetition,
which returns the numbers it computed so that bench.py can check that every backend
did the same math. twicegrad, listed first, is each workload's reference.

Sizes are issue 11's unless ``$TWICEGRAD_BENCH_QUICK`` is ``1`` (bench.py --quick).

>>> run = CASES["second_derivative"]["twicegrad"]()
>>> dy, d2y = run()
>>> dy > 1.0 and d2y < -1.0   # the residual chain's derivatives neither vanish nor explode
True
"""

from __future__ import annotations

import math
import os
import random
from typing import Callable

QUICK = os.environ.get("TWICEGRAD_BENCH_QUICK") == "1"
SIZES = (dict(samples=10, dag=2_000, chain=2_000, second=300, memory=6_000) if QUICK else
         dict(samples=100, dag=100_000, chain=100_000, second=5_000, memory=100_000))
DAG_WIDTH = 500          # leaves, and nodes per layer of the random DAG
CHAIN_STEP = 0.001       # y <- y + 0.001 * tanh(y): the gradient stays near 2, the second derivative near -3

# Python's recursion limit stays at its default (1000), as users have it: micrograd's and
# omnigrad's recursive topological sorts meet it on the chain.


# ---------------------------------------------------------------------------------
# How each backend makes a number that needs a gradient, and reads one back
# ---------------------------------------------------------------------------------

def twicegrad_value():
    import engine
    return engine.Value


def micrograd_value():
    """micrograd 0.1.0's Value, with tanh added in micrograd's own closure style
    (the version on PyPI has relu only; its demo's MLP is written here with tanh)."""
    from micrograd.engine import Value

    if not hasattr(Value, "tanh"):
        def tanh(self):
            t = math.tanh(self.data)
            out = Value(t, (self,), "tanh")

            def _backward():
                self.grad += (1 - t * t) * out.grad
            out._backward = _backward
            return out
        Value.tanh = tanh
    return Value


def omnigrad_value():
    from omnigrad.diffengine import Value
    return Value


def torch_scalar(x: float, requires_grad: bool = True):
    import torch
    return torch.tensor(x, dtype=torch.float64, requires_grad=requires_grad)


# ---------------------------------------------------------------------------------
# (a) micrograd's demo step: MLP 2-16-16-1 with tanh, 100 samples
# ---------------------------------------------------------------------------------

def make_moons(n: int, seed: int = 1):
    """Two interleaved half circles with noise, labels +1 / -1 (micrograd's demo data)."""
    rnd = random.Random(seed)
    X, y = [], []
    for i in range(n):
        t = math.pi * rnd.random()
        if i % 2:
            X.append((math.cos(t) + rnd.gauss(0, 0.1), math.sin(t) + rnd.gauss(0, 0.1)))
            y.append(1)
        else:
            X.append((1 - math.cos(t) + rnd.gauss(0, 0.1), 0.5 - math.sin(t) + rnd.gauss(0, 0.1)))
            y.append(-1)
    return X, y


def mlp_step(make: Callable[[float], object], zero_grad: Callable[[list], None],
             sgd: Callable[[list, float], None], read: Callable[[object], float]):
    """One training step of micrograd's demo (forward, zero_grad, backward, SGD update).

    ``make(x)`` makes a Value (parameters and inputs alike), ``read(v)`` reads a number
    back. The factory builds the parameters and the inputs; the step is timed.
    """
    def factory():
        rnd = random.Random(0)
        sizes = [2, 16, 16, 1]
        layers = [[([make(rnd.uniform(-1, 1)) for _ in range(sizes[i])], make(0.0))
                   for _ in range(sizes[i + 1])] for i in range(3)]
        params = [p for layer in layers for w, bias in layer for p in w + [bias]]
        X, y = make_moons(SIZES["samples"])
        inputs = [[make(a), make(c)] for a, c in X]

        def forward(x):
            for li, layer in enumerate(layers):
                out = []
                for w, bias in layer:
                    act = sum((wi * xi for wi, xi in zip(w, x)), bias)
                    out.append(act.tanh() if li < 2 else act)
                x = out
            return x[0]

        def run():
            scores = [forward(x) for x in inputs]
            data_loss = sum((1 + -yi * si).relu() for yi, si in zip(y, scores)) * (1.0 / len(y))
            loss = data_loss + 1e-4 * sum(p * p for p in params)
            zero_grad(params)
            loss.backward()
            sgd(params, 0.05)
            return read(loss), read(params[0]), read(params[-1])
        return run
    return factory


def _twicegrad_mlp():
    Value = twicegrad_value()

    def zero_grad(params):
        for p in params:
            p.grad = None

    def sgd(params, lr):
        for p in params:
            p.data -= lr * p.grad.data
    return mlp_step(lambda x: Value(x, requires_grad=True), zero_grad, sgd, lambda v: v.data)()


def _micrograd_mlp():
    Value = micrograd_value()

    def zero_grad(params):
        for p in params:
            p.grad = 0.0

    def sgd(params, lr):
        for p in params:
            p.data -= lr * p.grad
    return mlp_step(Value, zero_grad, sgd, lambda v: v.data)()


# ---------------------------------------------------------------------------------
# (b) a 100,000-node random DAG: build, and backward, timed apart
# ---------------------------------------------------------------------------------

def random_dag(leaves: list, n: int, seed: int = 0):
    """About ``n`` op nodes in layers of ``len(leaves)``: node i of a layer combines
    node i and a random node of the layer before with a random op (``a * c``,
    ``tanh(a + c)``, ``a * 0.5 - c``), and the last layer is summed pairwise. Every
    node is an ancestor of the output; the graph is about 2n/width + log2(width)
    levels deep, shallow enough for micrograd's recursive sort. Returns the output
    and the number of op nodes."""
    rnd = random.Random(seed)
    width = len(leaves)
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
    while len(layer) > 1:
        layer = [layer[i] + layer[i + 1] if i + 1 < len(layer) else layer[i] for i in range(0, len(layer), 2)]
        made += len(layer)
    return layer[0], made


def dag_leaves(make: Callable[[float], object]) -> list:
    rnd = random.Random(1)
    return [make(rnd.uniform(-1, 1)) for _ in range(DAG_WIDTH)]


def dag_build(make: Callable[[float], object], read: Callable[[object], float]):
    def factory():
        leaves = dag_leaves(make)

        def run():
            out, _ = random_dag(leaves, SIZES["dag"])
            return (read(out),)
        return run
    return factory


def dag_backward(make: Callable[[float], object], read: Callable[[object], float],
                 read_grad: Callable[[object], float]):
    def factory():
        leaves = dag_leaves(make)
        out, _ = random_dag(leaves, SIZES["dag"])

        def run():
            out.backward()
            return read_grad(leaves[0]), read_grad(leaves[1]), read_grad(leaves[-1])
        return run
    return factory


def _tw(x: float):
    return twicegrad_value()(x, requires_grad=True)


def _data(v) -> float:
    return v.data


def _tw_grad(v) -> float:
    return v.grad.data


def _float_grad(v) -> float:
    return v.grad


# ---------------------------------------------------------------------------------
# (c) a 100,000-step residual chain, and (d) its second derivative through 5,000 nodes
# ---------------------------------------------------------------------------------

def chain(y, steps: int, tanh: Callable):
    """``steps`` residual steps y <- y + tanh(y) * 0.001: three nodes each. (A chain
    y <- tanh(1.0001 y + 0.1) converges, so its gradient underflows to 5e-324 and
    every backend "agrees" on nothing; this one's gradient stays near 2.)"""
    for _ in range(steps):
        y = y + tanh(y) * CHAIN_STEP
    return y


def _method_tanh(v):
    return v.tanh()


def _twicegrad_chain():
    Value = twicegrad_value()

    def run():
        x = Value(0.5, requires_grad=True)
        y = chain(x, SIZES["chain"], _method_tanh)
        y.backward()
        return y.data, x.grad.data
    return run


def _value_chain(Value):
    def run():
        x = Value(0.5)
        y = chain(x, SIZES["chain"], _method_tanh)
        y.backward()
        return y.data, x.grad
    return run


def _torch_chain():
    torch_scalar(0.5).tanh().backward()  # torch's one-time autograd start-up, untimed

    def run():
        x = torch_scalar(0.5)
        y = chain(x, SIZES["chain"], _method_tanh)
        y.backward()
        return y.item(), x.grad.item()
    return run


def _twicegrad_second():
    import engine

    def run():
        x = engine.Value(0.5, requires_grad=True)
        y = chain(x, SIZES["second"] // 3, _method_tanh)
        dy, = engine.grad(y, x, create_graph=True)
        d2y, = engine.grad(dy, x)
        return dy.data, d2y.data
    return run


def _torch_second():
    import torch
    torch_scalar(0.5).tanh().backward()  # torch's one-time autograd start-up, untimed

    def run():
        x = torch_scalar(0.5)
        y = chain(x, SIZES["second"] // 3, _method_tanh)
        dy, = torch.autograd.grad(y, x, create_graph=True)
        d2y, = torch.autograd.grad(dy, x)
        return dy.item(), d2y.item()
    return run


def _ad_second():
    """ad 1.5.1 carries first and second derivatives forward through every operation."""
    import ad
    from ad import admath

    def run():
        x = ad.adnumber(0.5)
        y = chain(x, SIZES["second"] // 3, admath.tanh)
        return y.d(x), y.d2(x)
    return run


# ---------------------------------------------------------------------------------
# The tables bench.py reads
# ---------------------------------------------------------------------------------

CASES: dict[str, dict[str, Callable[[], Callable[[], object]]]] = {
    "mlp_step": {
        "twicegrad": _twicegrad_mlp,
        "micrograd": _micrograd_mlp,
    },
    "dag_build": {
        "twicegrad": dag_build(_tw, _data),
        "micrograd": lambda: dag_build(micrograd_value(), _data)(),
        "omnigrad": lambda: dag_build(omnigrad_value(), _data)(),
    },
    "dag_backward": {
        "twicegrad": dag_backward(_tw, _data, _tw_grad),
        "micrograd": lambda: dag_backward(micrograd_value(), _data, _float_grad)(),
        "omnigrad": lambda: dag_backward(omnigrad_value(), _data, _float_grad)(),
    },
    "chain": {
        "twicegrad": _twicegrad_chain,
        "torch": _torch_chain,
        "micrograd": lambda: _value_chain(micrograd_value()),   # recursive sorts: these two stop with
        "omnigrad": lambda: _value_chain(omnigrad_value()),     # RecursionError, recorded as such
    },
    "second_derivative": {
        "twicegrad": _twicegrad_second,
        "torch": _torch_second,
        "ad": _ad_second,
    },
}

DESCRIPTIONS = {
    "mlp_step": "MLP 2-16-16-1 (tanh), 100 samples: forward, zero_grad, backward, SGD update",
    "dag_build": "100,000-node random DAG: build",
    "dag_backward": "100,000-node random DAG: backward",
    "chain": "100,000-step chain y <- y + 0.001 tanh(y): build and backward",
    "second_derivative": "second derivative through a 5,000-node chain",
}

# Why a peer has no entry in a workload (shown as "n/a").
NOT_APPLICABLE = {
    "second_derivative": {"micrograd": "no higher-order derivatives", "omnigrad": "no higher-order derivatives"},
}

# Issue 11's targets: twicegrad must be at least ``at_least`` times faster than ``peer``
# (the median of the per-round ratios peer time / twicegrad time).
TARGETS = [
    {"workload": "mlp_step", "peer": "micrograd", "at_least": 6.0, "text": ">= 6x micrograd"},
    {"workload": "dag_build", "peer": "micrograd", "at_least": 8.0, "text": ">= 8x micrograd"},
    {"workload": "dag_backward", "peer": "micrograd", "at_least": 1.3, "text": ">= 1.3x micrograd"},
    {"workload": "dag_backward", "peer": "omnigrad", "at_least": 1.0, "text": "faster than omnigrad"},
    {"workload": "chain", "peer": "torch", "at_least": 5.0, "text": ">= 5x torch"},
    {"workload": "second_derivative", "peer": "torch", "at_least": 5.0, "text": ">= 5x torch"},
    {"workload": "second_derivative", "peer": "ad", "at_least": 1.0, "text": "faster than ad's forward mode"},
]


# ---------------------------------------------------------------------------------
# (e) memory: bytes per node while the graph lives, and after its output is dropped
# ---------------------------------------------------------------------------------

def memory_case(make: Callable[[float], object]):
    """The factory makes the DAG's leaves (inputs, not graph); ``build()`` makes the
    graph and returns its output and node count. bench.py measures with tracemalloc
    around ``build()`` and around dropping the output, with no gc.collect()."""
    def factory():
        leaves = dag_leaves(make)

        def build():
            return random_dag(leaves, SIZES["memory"])
        return build
    return factory


MEMORY: dict[str, Callable[[], Callable[[], tuple]]] = {
    "twicegrad": memory_case(_tw),
    "micrograd": lambda: memory_case(micrograd_value())(),
    "omnigrad": lambda: memory_case(omnigrad_value())(),
}
MEMORY_NOT_APPLICABLE = {"torch": "allocates in C++, out of tracemalloc's sight"}
MEMORY_TARGETS = {"live": 160.0, "after_drop": 1.0}  # bytes per node; "back to zero" is under one byte

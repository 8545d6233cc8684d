"""Benchmark cases for compiled mode (issue 12): one MLP training step, three ways.

``CASES`` follows benchmarks/bench.py's case-module interface: each backend is a
factory that does its untimed setup and returns ``run()``, ONE timed training step.
The reference is "twicegrad" (the eager engine).

- "twicegrad": micrograd's demo step on the eager engine: MLP 2-16-16-1 (tanh), 100
  samples, forward loss, zero grads, backward, SGD update (as bench.py's mlp case);
- "twicegrad-compiled": the same step with the per-sample loss and the L2 term
  compiled by ``engine.compile`` (traced in the factory: tracing is setup, not the
  step).  The L2 term reads the parameters alone, so they are passed as arguments.
  The loss and every gradient are the eager ones bit for bit;
- "floats": the same forward pass in plain Python floats, the floor.
"""

from __future__ import annotations

import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the engine of this checkout
sys.path.insert(0, HERE)

import engine  # noqa: E402  (after the path set-up above)
from cases_core import make_moons  # noqa: E402  (the eager MLP case's data, the same points)

SIZES = [2, 16, 16, 1]
SAMPLES = 10 if os.environ.get("TWICEGRAD_BENCH_QUICK") == "1" else 100  # bench.py --quick: small
LEARNING_RATE = 0.05


def initial_weights():
    """bench.py's initialisation: per neuron, its weights then a 0 bias, drawn from seed 0."""
    rnd = random.Random(0)
    return [[([rnd.uniform(-1, 1) for _ in range(SIZES[i])], 0.0) for _ in range(SIZES[i + 1])] for i in range(3)]


def forward(layers, x):
    """The MLP on one sample (works on Values, Tracers and floats alike)."""
    for li, layer in enumerate(layers):
        out = []
        for w, bias in layer:
            act = sum((wi * xi for wi, xi in zip(w, x)), bias)
            out.append(act.tanh() if li < 2 else act)
        x = out
    return x[0]


def _engine_setup():
    layers = [[([engine.Value(v, requires_grad=True) for v in w], engine.Value(b, requires_grad=True))
               for w, b in layer] for layer in initial_weights()]
    params = [p for layer in layers for w, bias in layer for p in w + [bias]]
    X, y = make_moons(SAMPLES)
    inputs = [[engine.Value(a), engine.Value(c)] for a, c in X]
    return layers, params, inputs, y


def l2(*params):
    return 1e-4 * sum(p * p for p in params)


def _engine_step(sample_loss, l2, params, inputs, y):
    def run():
        data_loss = sum(sample_loss(x, yi) for x, yi in zip(inputs, y)) * (1.0 / len(y))
        loss = data_loss + l2(*params)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= LEARNING_RATE * p.grad.data
        return loss.data  # bench.py checks that every backend computed the same loss
    return run


def eager():
    layers, params, inputs, y = _engine_setup()
    return _engine_step(lambda x, yi: (1 + -yi * forward(layers, x)).relu(), l2, params, inputs, y)


def compiled():
    layers, params, inputs, y = _engine_setup()

    @engine.compile
    def sample_loss(x, yi):
        return (1 + -yi * forward(layers, x)).relu()

    for x, yi in zip(inputs[:2], y[:2]):  # trace both labels (yi is a number: part of the key)
        sample_loss(x, yi)
    compiled_l2 = engine.compile(l2)
    compiled_l2(*params)
    return _engine_step(sample_loss, compiled_l2, params, inputs, y)


def floats():
    layers = initial_weights()
    X, y = make_moons(SAMPLES)

    def tanh_forward(x):
        for li, layer in enumerate(layers):
            out = []
            for w, bias in layer:
                act = sum((wi * xi for wi, xi in zip(w, x)), bias)
                out.append(math.tanh(act) if li < 2 else act)
            x = out
        return x[0]

    flat = [p for layer in layers for w, bias in layer for p in [*w, bias]]

    def run():
        data_loss = sum(max(1 + -yi * tanh_forward(x), 0.0) for x, yi in zip(X, y)) * (1.0 / len(y))
        return data_loss + 1e-4 * sum(p * p for p in flat)
    return run


CASES = {"mlp_step_compiled": {"twicegrad": eager, "twicegrad-compiled": compiled, "floats": floats}}

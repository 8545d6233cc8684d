"""Gradient accumulation: k backward() calls before one step() = one big batch.

``backward()`` adds into ``.grad``; it never overwrites it.  So a batch too big to
process at once can be split into k micro-batches: call ``backward()`` on each (its
loss scaled by 1/k, so the sum of the parts is the mean over the whole batch), then
``step()`` once and ``zero_grad()``.  The accumulated gradient is the full-batch
gradient, up to the order in which floats were added (see the printed difference).

    .venv/bin/python examples/grad_accumulation.py
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a clone

from engine import Value
from engine.optim import SGD

HIDDEN = 3


def make_params(seed=0):
    """A 1-3-1 tanh network's weights, drawn from a seed: [w1..., b1..., w2..., b2]."""
    rng = random.Random(seed)
    numbers = [rng.uniform(-1, 1) for _ in range(3 * HIDDEN)] + [0.0]
    return [Value(x, requires_grad=True) for x in numbers]


def model(params, x):
    w1, b1, w2, b2 = params[:HIDDEN], params[HIDDEN:2 * HIDDEN], params[2 * HIDDEN:3 * HIDDEN], params[-1]
    return sum((w2[j] * (w1[j] * x + b1[j]).tanh() for j in range(HIDDEN)), b2)


def mse(params, batch):
    return sum(((model(params, x) - y) ** 2 for x, y in batch), Value(0.0)) * (1.0 / len(batch))


def make_data(n=8, seed=1):
    rng = random.Random(seed)
    xs = [rng.uniform(-2, 2) for _ in range(n)]
    return [(x, 0.5 * x * x - 1 + rng.gauss(0, 0.1)) for x in xs]


def show(name, numbers):
    print(f"{name} = {[v.item() for v in numbers]!r}")


def main():
    # The seed article's first example: the same graph backpropagated 3 times (retain_graph)
    # accumulates 2, 4, 6 into x.grad.
    x = Value(1.0, requires_grad=True)
    z = x * Value(2.0)
    for i in range(3):
        z.backward(retain_graph=True)
        print(f"after backward #{i + 1}: x.grad = {x.grad.item()!r}")

    data = make_data(8)
    k = 4  # micro-batches of 2
    micro_batches = [data[i::k] for i in range(k)]

    # 1. The full batch in one backward.
    params = make_params()
    mse(params, data).backward()
    full = [p.grad for p in params]
    show("full_batch_grad", full)

    # 2. The same batch as k micro-batches: k backward() calls, no zero_grad in between.
    params = make_params()
    for batch in micro_batches:
        (mse(params, batch) * (1.0 / k)).backward()
    accumulated = [p.grad for p in params]
    show("accumulated_grad", accumulated)
    print(f"max_abs_difference = {max(abs(a.item() - b.item()) for a, b in zip(full, accumulated))!r}")

    # 3. Training with an effective batch size of 8 from micro-batches of 2.
    params = make_params()
    opt = SGD(params, lr=0.1, momentum=0.5)
    losses = []
    for step in range(10):
        opt.zero_grad()
        for batch in micro_batches:
            (mse(params, batch) * (1.0 / k)).backward()
        opt.step()
        losses.append(mse(params, data))
        print(f"step {step}: full-batch loss {losses[-1].item():.6f}")
    show("losses", losses)
    show("trained_params", params)


if __name__ == "__main__":
    main()

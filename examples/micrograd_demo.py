"""micrograd's demo on twicegrad: an MLP learns two interleaved half-moons.

The model, the max-margin loss, the L2 regularisation and the SGD loop are the ones
of micrograd's ``demo.ipynb``, with one line changed: ``from engine.nn import MLP``.
The two-moons data is generated here (as ``sklearn.datasets.make_moons`` does, from a
seed), so nothing but the standard library is needed.

    .venv/bin/python examples/micrograd_demo.py               # train, one line per step
    .venv/bin/python examples/micrograd_demo.py --plot moons.png   # and draw the boundary
    .venv/bin/python examples/micrograd_demo.py --compiled     # eager, then compiled: same losses, both timings

``--compiled`` trains the network twice from the same seed: once eagerly, once with the
model's forward compiled by ``engine.compile`` (traced once per sample structure, then
replayed as straight-line Python).  The losses are the same bit for bit.

``--plot`` needs matplotlib (``pip install 'twicegrad[plot]'``).
"""

import argparse
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a clone

import engine
from engine import Value, no_grad
from engine.nn import MLP


def make_moons(n_samples=100, noise=0.1, seed=1337):
    """Two interleaved half circles with Gaussian noise; labels -1 (upper) and +1 (lower)."""
    rng = random.Random(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    points = []
    for i in range(n_out):
        t = math.pi * i / (n_out - 1)
        points.append((math.cos(t), math.sin(t), -1))
    for i in range(n_in):
        t = math.pi * i / (n_in - 1)
        points.append((1 - math.cos(t), 0.5 - math.sin(t), 1))
    rng.shuffle(points)
    X = [[x + rng.gauss(0, noise), y + rng.gauss(0, noise)] for x, y, _ in points]
    y = [label for _, _, label in points]
    return X, y


def loss(model, X, y, alpha=1e-4, forward=None):
    """micrograd's demo loss: mean SVM max-margin loss + alpha * sum(p^2); and the accuracy.

    ``forward`` computes the scores in place of ``model`` (the compiled model)."""
    inputs = [list(map(Value, xrow)) for xrow in X]
    scores = list(map(forward or model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = alpha * sum(p * p for p in model.parameters())
    total_loss = data_loss + reg_loss
    accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


def train(model, X, y, steps=100, log=print, forward=None):
    """micrograd's loop: SGD with the learning rate decaying from 1.0 to 0.1.

    Returns the per-step (loss, accuracy) and the seconds each step took."""
    history, times = [], []
    for k in range(steps):
        t0 = time.perf_counter()
        total_loss, acc = loss(model, X, y, forward=forward)  # forward
        model.zero_grad()  # backward
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100  # update (sgd)
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        times.append(time.perf_counter() - t0)
        history.append((total_loss.data, acc))
        log(f"step {k} loss {total_loss.data!r}, accuracy {acc * 100}%  ({times[-1] * 1000:.0f} ms)")
    return history, times


def plot_decision_boundary(model, X, y, path, h=0.05):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--plot needs matplotlib: pip install 'twicegrad[plot]' (or pip install matplotlib)")
    xs = [p[0] for p in X]
    ys = [p[1] for p in X]
    x_min, x_max = min(xs) - 1, max(xs) + 1
    y_min, y_max = min(ys) - 1, max(ys) + 1
    gx = [x_min + i * h for i in range(int((x_max - x_min) / h) + 1)]
    gy = [y_min + j * h for j in range(int((y_max - y_min) / h) + 1)]
    with no_grad():  # no graph is needed to draw
        Z = [[model([x, yy]).data > 0 for x in gx] for yy in gy]
    fig, ax = plt.subplots()
    ax.contourf(gx, gy, Z, cmap=plt.cm.Spectral, alpha=0.8)
    ax.scatter(xs, ys, c=y, s=40, cmap=plt.cm.Spectral)
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_title("twicegrad MLP(2, [16, 16, 1]) on two moons")
    fig.savefig(path, dpi=100)
    print(f"saved the decision boundary to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="SGD steps (micrograd's demo: 100)")
    parser.add_argument("--seed", type=int, default=1337, help="seeds the data and the weights")
    parser.add_argument("--plot", metavar="PNG", help="save a decision-boundary plot (needs matplotlib)")
    parser.add_argument("--compiled", action="store_true",
                        help="train eagerly, then again with engine.compile; compare losses and timings")
    args = parser.parse_args(argv)

    X, y = make_moons(100, noise=0.1, seed=args.seed)
    eager_times = None
    if args.compiled:  # first the eager run, quietly, from the same seed
        random.seed(args.seed)
        eager_history, eager_times = train(MLP(2, [16, 16, 1]), X, y, args.steps, log=lambda line: None)
    random.seed(args.seed)
    model = MLP(2, [16, 16, 1])  # 2-layer neural network
    forward = engine.compile(model) if args.compiled else None
    print(model)
    print("number of parameters", len(model.parameters()))
    history, times = train(model, X, y, args.steps, forward=forward)
    final_loss, final_acc = loss(model, X, y, forward=forward)
    print(f"final loss {final_loss.data!r}, accuracy {final_acc * 100}%")
    print(f"mean time per step {sum(times) / len(times) * 1000:.1f} ms")
    if args.compiled:
        print(f"compiled losses equal the eager ones bit for bit: {history == eager_history}")
        eager_ms, compiled_ms = (sum(t) / len(t) * 1000 for t in (eager_times, times))
        print(f"mean time per step: eager {eager_ms:.1f} ms, compiled {compiled_ms:.1f} ms "
              f"({eager_ms / compiled_ms:.1f}x; the first compiled step includes tracing)")
    if args.plot:
        plot_decision_boundary(model, X, y, args.plot)


if __name__ == "__main__":
    main()

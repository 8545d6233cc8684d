"""How much a backward pass costs next to its forward pass, on twicegrad and on torch.

The rule of thumb for neural networks is that backward costs about twice the forward:
for a layer ``y = x @ W`` the forward is one matrix product, the backward two (the
gradient for ``x`` and the one for ``W``).  The concept page "Gradients of each loss
term" quotes what this script measures; run it to check that page on your machine.

    python benchmarks/forward_backward.py            # 11 rounds
    python benchmarks/forward_backward.py --rounds 15

Method: each round runs each backend once, in its own fresh process, the backends
interleaved; a run times the forward (building the loss) and the backward
(``loss.backward()``) of five steps with ``time.perf_counter``, after one warm-up
step, and reports total backward / total forward.  The script prints, per backend, the median of
the per-round ratios and their range.

- twicegrad: micrograd's demo model, ``engine.nn.MLP(2, [16, 16, 1])``, the squared
  error over 100 samples: one scalar op node per multiply and add.
- torch: the same kind of model on tensors, an MLP 256-1024-1024-1 (ReLU) on a batch
  of 512, float32, one thread: matrix products dominate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_twicegrad() -> float:
    sys.path.insert(0, ROOT)
    from engine.nn import MLP

    random.seed(0)
    model = MLP(2, [16, 16, 1])
    data = [([random.uniform(-1, 1), random.uniform(-1, 1)], random.uniform(-1, 1)) for _ in range(100)]

    def step() -> tuple[float, float]:
        model.zero_grad()
        t0 = time.perf_counter()
        loss = sum((model(x) - y) ** 2 for x, y in data) * (1.0 / len(data))
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    return _ratio(step)


def run_torch() -> float:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 1),
    )
    x, y = torch.randn(512, 256), torch.randn(512, 1)

    def step() -> tuple[float, float]:
        model.zero_grad()
        t0 = time.perf_counter()
        loss = ((model(x) - y) ** 2).mean()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    return _ratio(step)


def _ratio(step, steps: int = 5) -> float:
    """Backward / forward time, summed over ``steps`` steps after one warm-up step."""
    step()
    times = [step() for _ in range(steps)]
    return sum(b for _, b in times) / sum(f for f, _ in times)


WORKERS = {"twicegrad": run_twicegrad, "torch": run_torch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker]()))
        return
    if args.rounds < 9:
        parser.error("--rounds must be at least 9")
    ratios: dict[str, list[float]] = {name: [] for name in WORKERS}
    for _ in range(args.rounds):
        for name in WORKERS:
            out = subprocess.run([sys.executable, __file__, "--worker", name],
                                 check=True, capture_output=True, text=True).stdout
            ratios[name].append(json.loads(out))
    for name, values in ratios.items():
        print(f"{name:9s} backward / forward: median {statistics.median(values):.2f}, "
              f"range {min(values):.2f} to {max(values):.2f} over {len(values)} rounds")


if __name__ == "__main__":
    main()

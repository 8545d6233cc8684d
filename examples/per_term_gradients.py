"""Per-term gradients of a composite loss, and re-weighting the terms with them.

From the question "get the parameter gradients of each loss term in pytorch" (seed
003): the loss is a weighted sum of terms, and to set the weights one needs each term's
gradient with respect to all parameters.  Two ways, from a single forward pass:

1. ``grad(term_i, params, retain_graph=True)`` for each term: returns the gradients
   and leaves ``.grad`` alone (the graph is kept until the last term).
2. ``term_i.backward(retain_graph=True)``, then cache each ``p.grad`` and set it back
   to ``None`` before the next term, or the next term's gradient is added to it.

Both give the same numbers.  Then a GradNorm-style re-weighting: weights that give
every term the same gradient norm, recomputed every few steps while training.

    .venv/bin/python examples/per_term_gradients.py
"""

import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a clone

from engine import Value, grad
from engine.optim import Adam

HIDDEN = 4
XS = [i / 8 for i in range(9)]
H = 0.125


def make_params(seed=0):
    rng = random.Random(seed)
    return [Value(rng.uniform(-1, 1), requires_grad=True) for _ in range(3 * HIDDEN)] + [Value(0.0, requires_grad=True)]


def u(params, x):
    """A 1-4-1 tanh network."""
    w1, b1, w2, b2 = params[:HIDDEN], params[HIDDEN:2 * HIDDEN], params[2 * HIDDEN:3 * HIDDEN], params[-1]
    return sum((w2[j] * (w1[j] * x + b1[j]).tanh() for j in range(HIDDEN)), b2)


def loss_terms(params):
    """Fit sin(pi x) on [0, 1] from three terms of very different scales."""
    data = sum(((u(params, x) - math.sin(math.pi * x)) ** 2 for x in XS), Value(0.0)) * (1.0 / len(XS))
    # u'' = -pi^2 u, by finite differences at the interior points
    interior = XS[1:-1]
    residual = sum((((u(params, x + H) - 2 * u(params, x) + u(params, x - H)) * (1 / H ** 2)
                     + math.pi ** 2 * u(params, x)) ** 2 for x in interior), Value(0.0)) * (1.0 / len(interior))
    boundary = u(params, 0.0) ** 2 + u(params, 1.0) ** 2
    return [data, residual, boundary]


def norm(vector):
    return math.sqrt(sum(v.item() ** 2 for v in vector))


def show(name, values):
    print(f"{name} = {[v if isinstance(v, float) else v.item() for v in values]!r}")


def main():
    params = make_params()
    terms = loss_terms(params)  # one forward pass for all terms
    show("terms", terms)

    # 1. engine.grad per term, keeping the graph for the next term.
    by_grad = [grad(term, params, retain_graph=i < len(terms) - 1) for i, term in enumerate(terms)]

    # 2. backward per term, caching .grad and clearing it in between.
    terms = loss_terms(params)
    by_backward = []
    for i, term in enumerate(terms):
        term.backward(retain_graph=i < len(terms) - 1)
        by_backward.append([p.grad for p in params])
        for p in params:
            p.grad = None  # or the next term's gradient piles onto this one
    for i in range(len(terms)):
        show(f"term{i}_grad", by_grad[i])
    agree = all(a.item() == b.item() for ga, gb in zip(by_grad, by_backward) for a, b in zip(ga, gb))
    print(f"grad and cached backward agree exactly: {agree}")
    show("mean_abs_grad_per_term", [sum(abs(g.item()) for g in gs) / len(gs) for gs in by_grad])

    # 3. GradNorm-style weights: each weighted term gets the mean gradient norm.
    def balanced_weights(grads_per_term):
        norms = [norm(gs) for gs in grads_per_term]
        target = sum(norms) / len(norms)
        return [target / n for n in norms]

    weights = balanced_weights(by_grad)
    show("initial_weights", weights)
    opt = Adam(params, lr=0.02)
    for step in range(30):
        terms = loss_terms(params)
        if step % 10 == 0 and step > 0:  # re-balance from the current per-term gradients
            weights = balanced_weights([grad(t, params, retain_graph=True) for t in terms])
            show(f"weights_at_step{step}", weights)
        total = sum((w * t for w, t in zip(weights, terms)), Value(0.0))
        opt.zero_grad()
        total.backward()
        opt.step()
        if step % 5 == 4:
            show(f"terms_after_step{step}", terms)
    show("final_params", params)


if __name__ == "__main__":
    main()

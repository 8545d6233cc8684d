"""A gradient as a function of another parameter: create_graph, done right.

From the question "Pytorch autograd: make gradient of a parameter a function of another
parameter" (seed 000):

1. ``f(w) = dl/dw`` for ``l = w**2 * q`` is itself differentiable when taken with
   ``grad(..., create_graph=True)``: ``f(w).backward()`` fills ``w.grad`` and ``q.grad``.
2. The asker's alternating optimisation of ``f_class`` (weights ``w``) and ``g_class``
   (weight ``q``): ``w`` takes a gradient step on ``g``'s loss, the step is a function
   of ``q``, and ``q`` is then updated through it.  The original code works for dim 1
   and raises "Trying to backward through the graph a second time" for dim 2, on torch
   and on the engine alike (reproduced below, with the reason); the fixed version runs
   both.
3. A MAML-style meta-learning step: an inner gradient step per task with
   ``create_graph=True``, then the outer (query) loss differentiated through it, so
   the meta-gradient contains second derivatives.

    .venv/bin/python examples/gradient_as_function.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a clone

from engine import Value, grad


def show(name, values):
    values = [v.item() for v in values] if isinstance(values, (list, tuple)) else values.item()
    print(f"{name} = {values!r}")


# ---------------------------------------------------------------------------------
# 1. f(w) = dl/dw as a differentiable function of q
# ---------------------------------------------------------------------------------

def gradient_as_a_function():
    def fun(q):
        def result(w):
            loss = w ** 2 * q  # dloss/dw = 2 * w * q
            return grad(loss, w, create_graph=True)[0]
        return result

    w = Value(2.0, requires_grad=True)
    q = Value(3.0, requires_grad=True)
    fun(q)(w).backward()  # d(2wq)/dw = 2q = 6, d(2wq)/dq = 2w = 4
    show("f_w_grad", w.grad)
    show("f_q_grad", q.grad)


# ---------------------------------------------------------------------------------
# 2. The alternating optimisation, as asked (breaks for dim 2) and fixed
# ---------------------------------------------------------------------------------

XD = 2.0


class FClass:
    def __init__(self, dim):
        self.dim = dim
        if dim == 1:
            self.w = Value(3.0, requires_grad=True)
        elif dim == 2:
            self.w = [Value(3.0, requires_grad=True), Value(5.0, requires_grad=True)]
        else:
            raise ValueError("dim 1 or 2")

    def forward(self, x):
        return self.w * x if self.dim == 1 else self.w[0] * self.w[1] * x


class GClass:
    def __init__(self):
        self.q = Value(4.0, requires_grad=True)

    def forward(self, f):
        return self.q * f


def as_list(w):
    return list(w) if isinstance(w, (list, tuple)) else [w]


def original_w_new(f, g):
    """The asker's w step: w + dloss_g/dw, kept as a function of q (create_graph)."""
    loss_g = g.forward(f.forward(XD))
    grads = grad(loss_g, as_list(f.w), create_graph=True)
    new = [wi.detach() + gi for wi, gi in zip(as_list(f.w), grads)]
    return new[0] if f.dim == 1 else new


def original_q_new(f, g):
    """The asker's q step: q + dloss_f/dq, where loss_f depends on q through w."""
    loss_f = 2 * f.forward(XD)
    loss_f.backward()
    new = g.q.detach() + g.q.grad
    new.requires_grad = True
    return new


def run_original(dim, steps=3):
    """The question's loop.  For dim 2 the second q step raises:

    Each new w is ``w.detach() + dloss_g/dw``.  With dim 1, dloss_g/dw = q * x depends on
    q only, so the history of each new w starts afresh.  With dim 2, dloss_g/dw0 =
    q * w1 * x depends on the *current* w1, which after the first step is no longer a
    leaf: it is the previous step's ``w1.detach() + g1``, whose graph the first
    ``loss_f.backward()`` has already freed.  The second ``loss_f.backward()`` walks
    from the new w0 through the old w1 into that freed graph: RuntimeError.
    """
    f, g = FClass(dim), GClass()
    for _ in range(steps):
        f.w = original_w_new(f, g)
        g.q = original_q_new(f, g)
    return f, g


def fixed_w_new(f, g):
    """The w step, made a function of q only: differentiate at fresh leaves.

    Detaching the current w into new leaves cuts the link to the previous steps'
    graphs; the step ``gi`` still depends on q (create_graph=True), which is the point.
    """
    w = [wi.detach().requires_grad_() for wi in as_list(f.w)]
    f.w = w[0] if f.dim == 1 else w
    loss_g = g.forward(f.forward(XD))
    grads = grad(loss_g, w, create_graph=True)
    new = [wi.detach() + gi for wi, gi in zip(w, grads)]
    return new[0] if f.dim == 1 else new


def fixed_q_new(f, g):
    """The q step by ``grad`` instead of ``backward``: nothing piles up in any ``.grad``."""
    loss_f = 2 * f.forward(XD)
    dq, = grad(loss_f, g.q)
    return (g.q.detach() + dq).requires_grad_()


def run_fixed(dim, steps=3):
    f, g = FClass(dim), GClass()
    for step in range(steps):
        f.w = fixed_w_new(f, g)
        g.q = fixed_q_new(f, g)
        show(f"fixed_dim{dim}_step{step}_w", as_list(f.w))
        show(f"fixed_dim{dim}_step{step}_q", g.q)
    return f, g


def alternating_optimisation():
    f, g = run_original(1)
    show("original_dim1_w", as_list(f.w))
    show("original_dim1_q", g.q)
    try:
        run_original(2)
        print("original dim-2 code: no error")
    except RuntimeError as e:
        print(f"original dim-2 code: RuntimeError: {str(e)[:60]}...")
    run_fixed(1)  # the same numbers as the original dim-1 code
    run_fixed(2)


# ---------------------------------------------------------------------------------
# 3. MAML: the outer gradient flows through the inner gradient step
# ---------------------------------------------------------------------------------

TASKS = [  # (slope, intercept) of each task's line; support and query x's
    (1.5, -0.5, [-1.0, 0.5, 2.0], [0.0, 1.0]),
    (-0.8, 1.0, [-2.0, 0.0, 1.0], [-1.0, 1.5]),
    (0.3, 0.2, [-0.5, 1.0, 1.5], [0.5, -1.5]),
]


def predict(params, x):
    w, b, c = params
    return (w * x + b).tanh() * c


def task_loss(params, xs, slope, intercept):
    return sum(((predict(params, x) - (slope * x + intercept)) ** 2 for x in xs), Value(0.0)) * (1.0 / len(xs))


def maml(meta_steps=5, inner_lr=0.1, outer_lr=0.2):
    params = [Value(0.5, requires_grad=True), Value(0.0, requires_grad=True), Value(1.0, requires_grad=True)]
    for step in range(meta_steps):
        outer = Value(0.0)
        first_order = Value(0.0)
        for slope, intercept, support, query in TASKS:
            inner_grads = grad(task_loss(params, support, slope, intercept), params, create_graph=True)
            adapted = [p - inner_lr * gi for p, gi in zip(params, inner_grads)]
            outer = outer + task_loss(adapted, query, slope, intercept)
            # First-order MAML for comparison: the inner gradient treated as a constant.
            adapted_fo = [p - inner_lr * gi.detach() for p, gi in zip(params, inner_grads)]
            first_order = first_order + task_loss(adapted_fo, query, slope, intercept)
        meta_grads = grad(outer, params)  # second order: through inner_grads
        fo_grads = grad(first_order, params)
        show(f"maml_step{step}_outer_loss", outer)
        show(f"maml_step{step}_meta_grad", meta_grads)
        show(f"maml_step{step}_first_order_grad", fo_grads)
        for p, gp in zip(params, meta_grads):
            p.data -= outer_lr * gp
    show("maml_params", params)


def main():
    gradient_as_a_function()
    alternating_optimisation()
    maml()


if __name__ == "__main__":
    main()

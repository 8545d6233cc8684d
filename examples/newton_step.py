"""Hessian-vector products by double backward, and Newton's method with them.

``g = grad(f, x, create_graph=True)`` is a gradient that is itself a function of x;
differentiating ``g`` along a vector ``v`` (``grad(g, x, grad_outputs=v)``) gives the
Hessian-vector product ``H v`` without ever forming H.  With n = 2 parameters, two
products with the unit vectors give H's columns; the Newton step solves ``H d = -g``.
The Hessian is checked against ``engine.functional.hessian``.

    .venv/bin/python examples/newton_step.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a clone

from engine import Value, grad
from engine.functional import hessian


def f(x, y):
    """A curved valley: Rosenbrock's function, scaled down, plus a wave that moves the minimum off (1, 1)."""
    return (1 - x) ** 2 + 5 * (y - x * x) ** 2 + 0.1 * (x * y).sin() ** 2


def hvp(func, point, v):
    """H(point) @ v by double backward."""
    g = grad(func(*point), point, create_graph=True)
    return grad(g, point, grad_outputs=v)


def show(name, values):
    def number(v):
        return [number(x) for x in v] if isinstance(v, (list, tuple)) else v.item()
    print(f"{name} = {number(values)!r}")


def main():
    x = Value(0.6, requires_grad=True)
    y = Value(0.2, requires_grad=True)
    point = [x, y]
    v = [Value(0.3), Value(-0.7)]
    show("gradient", grad(f(x, y), point))
    show("hvp", hvp(f, point, v))

    # H's columns from the unit vectors, against functional.hessian.
    columns = [hvp(f, point, [Value(1.0), Value(0.0)]), hvp(f, point, [Value(0.0), Value(1.0)])]
    H_by_hvp = [[columns[j][i] for j in range(2)] for i in range(2)]
    H = hessian(f, (x, y))
    show("hessian_by_hvp", H_by_hvp)
    show("hessian_functional", H)

    # Newton's method: d = -H^-1 g, the 2x2 system solved by Cramer's rule.
    for step in range(6):
        fx = f(x, y)
        gx, gy = grad(fx, point, create_graph=True)
        (hxx, hxy), (hyx, hyy) = [grad(gi, point, retain_graph=True) for gi in (gx, gy)]
        det = hxx * hyy - hxy * hyx
        dx = -(hyy * gx - hxy * gy) / det
        dy = -(-hyx * gx + hxx * gy) / det
        x.data += dx.item()
        y.data += dy.item()
        show(f"newton_step{step}", [fx, x, y])
    show("newton_final", [f(x, y), x, y])
    show("newton_final_gradient", grad(f(x, y), point))


if __name__ == "__main__":
    main()

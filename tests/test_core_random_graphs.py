"""Random expression DAGs against torch float64: values, first and second derivatives,
mixed partials, grad_outputs on several outputs, and whether a second backward raises.

Programs are generated from seeded ``random`` (reproducible: the failing seed and the
program are printed).  Every op of the contract appears, with numbers on either side;
operands are drawn from all earlier nodes, so subexpressions are shared.  Inputs stay
away from poles and kinks (log/sqrt/division/pow bases away from 0, |x| away from 0 for
abs/relu, exp/sinh/cosh arguments bounded) so both libraries are well defined there.
"""

import math
import random

import pytest

REL = 1e-10  # torch's float64 kernels differ from Python's libm by an ulp here and there,
ABS = 1e-12  # and differences grow through a chain; where terms cancel (x/x - 1, whose
# derivative torch computes as 1/x - (x/x)/x and the engine as 1/x - x/(x*x)) what is left
# is rounding noise of size 1e-17 on either side of 0.  Both still catch any wrong formula.

UNARY = ["neg", "abs", "exp", "log", "tanh", "sigmoid", "relu", "sin", "cos", "sinh", "cosh", "sqrt"]
BINARY = ["add", "sub", "mul", "div", "pow"]


def _apply(op, a, b=None):
    """The op on Values/tensors (the program both libraries run)."""
    if op == "neg":
        return -a
    if op == "abs":
        return abs(a)
    if op in UNARY:
        return getattr(a, op)()
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b
    if op == "pow":
        return a ** b
    raise AssertionError(op)


def _float(op, a, b=None):
    """The same op on floats, to keep the generated program inside the safe domain."""
    f = {
        "neg": lambda: -a, "abs": lambda: abs(a), "exp": lambda: math.exp(a), "log": lambda: math.log(a),
        "tanh": lambda: math.tanh(a), "sigmoid": lambda: 1 / (1 + math.exp(-a)), "relu": lambda: max(a, 0.0),
        "sin": lambda: math.sin(a), "cos": lambda: math.cos(a), "sinh": lambda: math.sinh(a),
        "cosh": lambda: math.cosh(a), "sqrt": lambda: math.sqrt(a), "add": lambda: a + b, "sub": lambda: a - b,
        "mul": lambda: a * b, "div": lambda: a / b, "pow": lambda: a ** b,
    }[op]
    return f()


def _ok_unary(op, a):
    if op in ("log", "sqrt"):
        return a > 0.1
    if op in ("abs", "relu"):
        return abs(a) > 1e-3
    if op in ("exp", "sinh", "cosh", "sigmoid"):
        return abs(a) < 8
    return True


def _ok_binary(op, a, b):
    if op == "div":
        return abs(b) > 0.1
    if op == "pow":  # (an exponent Value of exactly 0 is an edge point: test_core_create_graph)
        return a > 0.1 and 1e-3 < abs(b) < 4 and abs(b * math.log(a)) < 8
    return True


def generate(seed: int):
    """A random program: leaf values, instructions, outputs and seeds."""
    rnd = random.Random(seed)
    n_leaves = rnd.randint(1, 3)
    leaves = [round(rnd.uniform(-2, 2), 3) or 0.5 for _ in range(n_leaves)]
    vals = list(leaves)
    prog = []
    target = rnd.randint(3, 14)
    tries = 0
    while len(prog) < target and tries < 500:
        tries += 1
        pick = lambda: rnd.randrange(len(vals)) if rnd.random() < 0.4 else max(0, len(vals) - 1 - rnd.randrange(3))  # noqa: E731
        if rnd.random() < 0.45:
            op = rnd.choice(UNARY)
            i = pick()
            if not _ok_unary(op, vals[i]):
                continue
            v = _float(op, vals[i])
            instr = (op, i, None, None)
        else:
            op = rnd.choice(BINARY)
            i = pick()
            kind = rnd.choice(["vv", "vv", "vc", "cv"])
            if kind == "vv":
                j = pick()
                a, b = vals[i], vals[j]
                instr = (op, i, j, None)
            else:
                c = rnd.choice([2, 3, -1, 0.5, 1.5, -2.5, 0.25, 4])
                if kind == "vc":
                    a, b = vals[i], c
                    if op == "pow":  # Value ** number: any base is fine with an integer exponent
                        b = rnd.choice([2, 3, -1, 0.5, 1.5, -2.0, 0])
                        if (b != int(b) and vals[i] <= 0.1) or (b < 0 and abs(vals[i]) < 0.1):
                            continue
                        a = vals[i]
                        instr = (op, i, "c", b)
                        v = _float(op, a, b) if not (a == 0 and b < 0) else math.inf
                        if not math.isfinite(v) or abs(v) > 1e4:
                            continue
                        vals.append(v)
                        prog.append(instr)
                        continue
                    instr = (op, i, "c", c)
                else:
                    if op == "pow":
                        c = abs(c) + 0.3  # number ** Value: a positive base
                    a, b = c, vals[i]
                    instr = (op, "c", i, c)
            if not _ok_binary(op, a, b):
                continue
            v = _float(op, a, b)
        if not math.isfinite(v) or abs(v) > 1e4:
            continue
        vals.append(v)
        prog.append(instr)
    n = len(vals)
    outs = sorted(set([n - 1] + [rnd.randrange(n_leaves, n) for _ in range(rnd.randint(0, 2)) if n > n_leaves]))
    seeds = [round(rnd.uniform(-2, 2), 2) for _ in outs]
    return leaves, prog, outs, seeds


def build(B, leaves, prog):
    nodes = [B.leaf(v) for v in leaves]
    for op, i, j, c in prog:
        if i == "c":
            nodes.append(_apply(op, c, nodes[j]))
        elif j == "c":
            nodes.append(_apply(op, nodes[i], c))
        elif j is None:
            nodes.append(_apply(op, nodes[i]))
        else:
            nodes.append(_apply(op, nodes[i], nodes[j]))
    return nodes


def describe(leaves, prog, outs, seeds) -> str:
    names = [f"x{k}" for k in range(len(leaves))]
    lines = [f"{n} = {v!r}" for n, v in zip(names, leaves)]
    for k, (op, i, j, c) in enumerate(prog):
        a = repr(c) if i == "c" else names[i]
        b = None if j is None else repr(c) if j == "c" else names[j]
        name = f"v{k}"
        names.append(name)
        sym = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}.get(op)
        lines.append(f"{name} = {a} {sym} {b}" if sym else f"{name} = {op}({a})")
    lines.append(f"outputs {[names[o] for o in outs]} seeds {seeds}")
    return "\n".join(lines)


def program(B, rec, case):
    leaves, prog, outs, seeds = case
    nodes = build(B, leaves, prog)
    xs = nodes[:len(leaves)]
    rec("values", [n.item() for n in nodes])
    rec("requires_grad", [n.requires_grad for n in nodes])
    out = nodes[outs[-1]]
    # first derivatives of the last output
    rec("d1", B.grad(out, xs, retain_graph=True, allow_unused=True))
    # second derivatives and mixed partials (create_graph), None-ness included
    g = B.grad(out, xs, create_graph=True, allow_unused=True)
    rec("d1 (create_graph)", g, node_names=False)
    for k, gk in enumerate(g):
        if gk is None or not gk.requires_grad:
            continue
        rec(f"d2 row {k}", B.grad(gk, xs, retain_graph=True, allow_unused=True), node_names=False)
    # grad_outputs on several outputs
    os_ = [nodes[o] for o in outs]
    rec("vjp", B.grad(os_, xs, grad_outputs=[B.seed(s) for s in seeds], retain_graph=True, allow_unused=True))
    # backward into .grad, then does a second backward raise?
    B.backward(os_, [B.seed(s) for s in seeds])
    rec("accumulated", [x.grad for x in xs])
    rec.raises("second backward", lambda: B.backward(os_, [B.seed(s) for s in seeds]))
    rec("after second", [x.grad for x in xs])


BATCHES = 40
PER_BATCH = 15


@pytest.mark.parametrize("batch", range(BATCHES))
def test_random_graphs(differ, batch):
    failures = []
    for seed in range(batch * PER_BATCH, (batch + 1) * PER_BATCH):
        case = generate(seed)
        t, e = differ.run_both(program, case=case)
        if not differ.same(t, e, rel=REL, abs_=ABS):
            failures.append(f"seed {seed}:\n{describe(*case)}\n{differ.describe_diff(t, e)}")
    assert not failures, "\n\n".join(failures[:3])


def test_generator_covers_every_op():
    """The generated programs use every op, both number sides, and shared nodes."""
    seen, shared = set(), 0
    for seed in range(BATCHES * PER_BATCH):
        _, prog, _, _ = generate(seed)
        uses = {}
        for op, i, j, _ in prog:
            seen.add((op, "c" if i == "c" else "v", "c" if j == "c" else "-" if j is None else "v"))
            for k in (i, j):
                if isinstance(k, int):
                    uses[k] = uses.get(k, 0) + 1
        shared += any(n > 1 for n in uses.values())
    ops = {s[0] for s in seen}
    assert ops == set(UNARY) | set(BINARY)
    for op in BINARY:
        assert {(op, "v", "v"), (op, "v", "c"), (op, "c", "v")} <= seen, op
    assert shared > BATCHES * PER_BATCH // 2

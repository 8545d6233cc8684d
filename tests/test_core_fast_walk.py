"""Which walk runs: the fast walk whenever no user code can see the difference, the
general walk (engine/full_walk.py) otherwise, and the same gradients either way.

The routing is checked in a fresh interpreter (the test process holds hooks from
other tests, which rightly send every walk down the general path) by replacing the
general walk with one that records it was called.
"""

import subprocess
import sys
import struct
import textwrap
from pathlib import Path

import engine
from engine import Value, autograd

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = textwrap.dedent("""
    import engine
    from engine import Value, autograd, full_walk

    calls = []
    general = autograd._walk

    def spy(*args, **kwargs):
        calls.append(1)
        return general(*args, **kwargs)

    autograd._walk = spy

    def walked(fn):
        del calls[:]
        fn()
        return "general" if calls else "fast"

    x = Value(2.0, requires_grad=True)
    w = Value(3.0, requires_grad=True)
    print("backward", walked(lambda: (x * w).tanh().backward()))
    print("grad", walked(lambda: engine.grad(x * w, [x])))
    print("create_graph", walked(lambda: engine.grad(engine.grad(x ** 3, x, create_graph=True)[0], x)))
    f = engine.compile(lambda a, b: (a * b).tanh())
    print("compiled", walked(lambda: f(x, w).backward()))
    m = x * w
    print("non-leaf input", walked(lambda: engine.grad(m * m, [m])))
    h = x.register_hook(lambda g: g)
    print("with a hook", walked(lambda: (x * w).backward()))
    h.remove()
    del h
    print("hook removed", walked(lambda: (x * w).backward()))
    del x, m, f  # (m's node and f's trace hold the leaf too)
    import gc; gc.collect()  # (f's trace is a cycle)
    x = Value(2.0, requires_grad=True)
    print("that leaf gone", walked(lambda: (x * w).backward()))
""")


def test_the_fast_walk_runs_unless_user_code_could_tell():
    out = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "backward fast",
        "grad fast",
        "create_graph fast",
        "compiled fast",
        "non-leaf input general",
        "with a hook general",
        "hook removed general",  # the leaf keeps its (now empty) hook table while it lives: only costs speed
        "that leaf gone fast",
    ]


def test_a_walk_that_finds_the_fast_slots_taken_takes_the_general_walk():
    x = Value(2.0, requires_grad=True)
    y = (x * x).tanh()
    with autograd._fast_lock:  # as if another thread's walk held the nodes' _grad_in slots
        y.backward(retain_graph=True)
        g_general = x.grad.item()
    x.grad = None
    y.backward()
    assert g_general == x.grad.item() == engine.grad((x * x).tanh(), x)[0].item()


SPECIALS = [0.0, -0.0, 0.7, -2.25, 1e308, -5e-324, float("inf"), float("-inf"), float("nan")]


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def test_the_fast_walks_written_out_rules_are_the_op_tables_bit_for_bit():
    # The fast walk writes out Add's, Mul's and tanh's float rules instead of calling
    # their vjp; every gradient must be the vjp's, to the last bit, specials included.
    from engine.ops import AddBackward0, MulBackward0, TanhBackward0
    for g in SPECIALS:
        for a in SPECIALS:
            for b in SPECIALS:
                x, y = Value(a, requires_grad=True), Value(b, requires_grad=True)
                for out, rule in ((x + y, AddBackward0.vjp(g, None, None)),
                                  (x * y, MulBackward0.vjp((x * y).grad_fn, g, a, b)),
                                  (x.tanh(), TanhBackward0.vjp(g, x.tanh().data, None))):
                    got = autograd._fast_walk([out], [g], free=True)
                    assert got is not None, "the fast walk's slots were taken"
                    leaves = [x, y][:len(rule)]
                    assert [_bits(got[v]) for v in leaves] == [_bits(r) for r in rule], (out.grad_fn, g, a, b)

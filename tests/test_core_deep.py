"""No recursion: a 1,000,000-step chain at the default recursion limit (issue 3, item 9).

Each test runs in a fresh interpreter with a timeout, so a RecursionError, a C stack
overflow (segfault) or a hang fails the test cleanly instead of killing pytest.
Expected values come from math (closed forms or float recurrences), and a short
version of each chain is compared with torch in-process.
"""

import math


def test_million_step_chain_backward_repr_free_and_dealloc(differ):
    out = differ.run_python("""
        import sys
        from engine import Value, grad
        assert sys.getrecursionlimit() == 1000
        N = 1_000_000
        x = Value(0.5, requires_grad=True)
        y = x
        for _ in range(N):
            y = y * 1.0                 # one node per step, it saves a number
        print(repr(y))
        y.backward()                    # walk, free
        print(x.grad.item())
        try:
            y.backward()
        except RuntimeError as e:
            print("second:", str(e).startswith("Trying to backward through the graph a second time"))
        node = y.grad_fn
        for _ in range(5):
            node = node.next_functions[0][0]
        print(node.name())
        del node
        del y                            # deallocation of a million-deep graph
        y = x
        for _ in range(N // 4):
            y = y * 1.0
        g, = grad(y, x, retain_graph=True)  # and grad(), retained (shorter: the machine is shared)
        print(g.item())
        del y
        y = x
        for _ in range(N // 4):
            y = y + 1.0
        del y                            # dropped without any backward
        print("done")
    """, timeout=300)
    assert out.split("\n")[:6] == [
        "Value(0.5, grad_fn=<MulBackward0>)", "1.0", "second: True",
        "MulBackward0", "1.0", "done"]


def test_create_graph_backward_of_a_deep_chain(differ):
    """100,000 nested sin: first and second derivative by recurrence, then freed."""
    out = differ.run_python("""
        import sys, warnings
        from engine import Value, grad
        warnings.simplefilter("ignore")
        N = 100_000
        x = Value(0.3, requires_grad=True)
        y = x
        for _ in range(N):
            y = y.sin()
        d1, = grad(y, x, create_graph=True)
        d2, = grad(d1, x, retain_graph=True)
        print(repr(d1.item()), repr(d2.item()))
        y.backward(create_graph=True)    # .grad becomes a deep graph too
        print(repr(x.grad.item()))
        x.grad.backward()
        x.grad = None
        del y, d1, d2
        print("done")
    """, timeout=120)
    v, d1, d2 = 0.3, 1.0, 0.0
    for _ in range(100_000):
        d1, d2 = math.cos(v) * d1, -math.sin(v) * d1 * d1 + math.cos(v) * d2
        v = math.sin(v)
    lines = out.split("\n")
    e1, e2 = map(float, lines[0].split())
    assert differ.same_float(e1, d1, rel=1e-9) and differ.same_float(e2, d2, rel=1e-9)
    assert differ.same_float(float(lines[1]), d1, rel=1e-9)
    assert lines[2] == "done"


def test_short_sin_chain_against_torch(differ):
    """The same program as above, 2,000 steps, against torch (first and second derivative)."""

    def prog(B, rec):
        x = B.leaf(0.3)
        y = x
        for _ in range(2000):
            y = y.sin()
        d1, = B.grad(y, x, create_graph=True)
        rec("y", y.item())
        rec("d1", d1.item())
        rec("d2", B.grad(d1, x)[0].item())

    differ.check(prog, rel=1e-9)


def test_wide_and_deep_dag_with_hooks_and_inputs(differ):
    """A deep DAG with sharing (y_{k+1} = y_k * y_{k-1} scaled) walked by backward(inputs=)
    and grad() with hooks on the way, at 200,000 nodes."""
    out = differ.run_python("""
        from engine import Value, grad
        x = Value(1.0, requires_grad=True)
        a, b = x, x * 1.0
        seen = []
        for k in range(100_000):
            a, b = b, (a + b) * 0.5
            if k % 25_000 == 0:
                b.register_hook(lambda g: seen.append(1))
        b.backward(inputs=[x], retain_graph=True)
        print(x.grad.item(), len(seen))
        print(grad(b, x)[0].item())
    """, timeout=120)
    g1, seen, g2 = out.split()
    assert float(g1) == 1.0 and float(g2) == 1.0 and int(seen) == 4  # (a+b)/2 of values with slope 1


def test_deep_graph_through_next_functions_and_engine_walks(differ):
    """Walking next_functions by hand to the bottom: the edge views must not recurse."""
    out = differ.run_python("""
        from engine import Value
        x = Value(2.0, requires_grad=True)
        y = x
        for _ in range(150_000):
            y = y.exp().log()
        n, depth = y.grad_fn, 0
        while n.next_functions:
            n = n.next_functions[0][0]
            depth += 1
        print(depth, n.variable is x)
    """, timeout=120)
    assert out.split() == ["300000", "True"]

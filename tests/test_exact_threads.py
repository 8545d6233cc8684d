"""Issue 9, rule 1: several threads, one graph.

Walks through a shared graph from several threads at once must each get their own,
correct result.  The thread switch interval is made tiny so that the threads
interleave inside the walks; the results must equal those of the same calls made one
after the other (which the other test files compare with torch), and this file also
checks the serial results against torch.
"""

import random
import sys
import threading

import pytest


def shared_graph(B, n_leaves: int = 6, n_ops: int = 120, seed: int = 0):
    """A random DAG over a few leaves with shared subexpressions and three outputs."""
    rnd = random.Random(seed)
    leaves = [B.leaf(rnd.uniform(0.2, 1.2)) for _ in range(n_leaves)]
    pool = list(leaves)
    for _ in range(n_ops):
        a, b = rnd.choice(pool), rnd.choice(pool)
        op = rnd.randrange(5)
        if op == 0:
            v = a * b
        elif op == 1:
            v = a + b
        elif op == 2:
            v = (a * 0.5).tanh()
        elif op == 3:
            v = a - b * 0.3
        else:
            v = (a * b).sin()
        pool.append(v)
    outs = [pool[-1], pool[-2] * pool[-7], pool[-3]]
    mid = pool[n_leaves + n_ops // 2]
    return leaves, mid, outs


def calls(B, leaves, mid, outs):
    """The calls each thread makes: name -> function returning plain numbers."""
    def numbers(gs):
        return tuple(None if g is None else g.item() for g in gs)

    return {
        "grad all": lambda: numbers(B.grad(outs, leaves, retain_graph=True, allow_unused=True)),
        "grad some": lambda: numbers(B.grad(outs[0], leaves[:2], retain_graph=True, allow_unused=True)),
        "grad mid": lambda: numbers(B.grad(outs[1], [mid, leaves[3]], retain_graph=True, allow_unused=True)),
        "grad seeded": lambda: numbers(B.grad(outs, leaves[2:], grad_outputs=[B.seed(2.0), B.seed(-1.0),
                                                                                  B.seed(0.5)], retain_graph=True,
                                                           allow_unused=True)),
        "grad create_graph": lambda: numbers(B.grad(outs[2], leaves[1:4], create_graph=True, allow_unused=True)),
    }


def run_concurrently(jobs, repeat: int = 6):
    """Run each job ``repeat`` times in its own thread, all at once; return results by name."""
    results = {name: [] for name in jobs}
    errors = []
    barrier = threading.Barrier(len(jobs) * repeat)

    def worker(name, fn):
        try:
            barrier.wait()
            results[name].append(fn())
        except BaseException as exc:
            errors.append((name, exc))

    threads = [threading.Thread(target=worker, args=(name, fn)) for name, fn in jobs.items() for _ in range(repeat)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    return results


def test_serial_calls_match_torch(differ):
    def prog(B, rec):
        leaves, mid, outs = shared_graph(B)
        for name, fn in calls(B, leaves, mid, outs).items():
            rec(name, fn())

    differ.check(prog, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_concurrent_grad_equals_serial(differ, seed):
    B = differ.E
    leaves, mid, outs = shared_graph(B, seed=seed)
    jobs = calls(B, leaves, mid, outs)
    serial = {name: fn() for name, fn in jobs.items()}
    for name, got in run_concurrently(jobs).items():
        assert got == [serial[name]] * len(got), name


def test_concurrent_backward_accumulates_every_call(differ):
    """backward from many threads at once (retain_graph, with and without inputs=):
    every leaf's .grad ends as the sum of what each call gives alone."""
    B = differ.E
    leaves, mid, outs = shared_graph(B, seed=3)
    mid.retain_grad()

    def grads():
        return [x.grad.item() if x.grad is not None else None for x in leaves] + [mid.grad.item()]

    def reset():
        for x in leaves:
            x.grad = None
        mid.grad = None

    kinds = {
        "all": lambda: B.backward(outs, retain_graph=True),
        "inputs": lambda: B.backward(outs[0], inputs=leaves[:3], retain_graph=True),
        "non-leaf input": lambda: B.backward(outs[1], inputs=[mid, leaves[4]], retain_graph=True),
        "method": lambda: outs[2].backward(retain_graph=True),
    }
    repeat = 3
    # serial: each kind repeated
    reset()
    for fn in kinds.values():
        for _ in range(repeat):
            fn()
    serial = grads()
    reset()
    run_concurrently({name: fn for name, fn in kinds.items()}, repeat=repeat)
    concurrent = grads()
    assert differ.same(serial, concurrent, rel=1e-12), (serial, concurrent)


def test_concurrent_hooks_and_custom_functions(differ):
    """Walks through a graph with hooks and a custom Function (the general path)."""
    B = differ.E
    engine = differ.engine

    class Square(engine.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            a, = ctx.saved_tensors
            return g * 2 * a

    leaves, mid, outs = shared_graph(B, seed=5)
    calls_seen = []
    mid.register_hook(lambda g: calls_seen.append(1))
    sq = Square.apply(outs[0])
    top = sq + outs[1] * mid
    jobs = {
        "grad": lambda: tuple(g and g.item() for g in B.grad(top, leaves, retain_graph=True, allow_unused=True)),
        "grad mid": lambda: tuple(g.item() for g in B.grad(top, [mid], retain_graph=True)),
    }
    serial = {name: fn() for name, fn in jobs.items()}
    calls_seen.clear()
    results = run_concurrently(jobs, repeat=4)
    for name, got in results.items():
        assert got == [serial[name]] * 4, name
    assert len(calls_seen) == 8  # the hook ran once per walk


def test_grad_mode_is_per_thread_during_walks(differ):
    """A walk switches grad mode off in its own thread only."""
    engine = differ.engine
    x = engine.Value(0.5, requires_grad=True)
    y = x
    for _ in range(2000):
        y = (y * 1.0001).sin()
    seen = []
    stop = threading.Event()

    def watcher():
        while not stop.is_set():
            seen.append(engine.is_grad_enabled())

    t = threading.Thread(target=watcher)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        t.start()
        for _ in range(3):
            engine.grad(y, x, retain_graph=True)
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)
    assert seen and all(seen)

"""no_grad / enable_grad / set_grad_enabled / is_grad_enabled, thread-local."""

import threading
from contextlib import ExitStack

import pytest
from hypothesis import given, settings, strategies as st


def test_context_managers(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        rec("enabled", B.is_grad_enabled())
        with B.no_grad():
            y = x * 2
            rec("inside no_grad", B.is_grad_enabled())
            rec("y", y)
            rec("new leaf may require grad", B.new(1.0, requires_grad=True))
            rec("ops on it do not", B.new(1.0, requires_grad=True) * 3)
            with B.enable_grad():
                rec("enable_grad inside", B.is_grad_enabled())
                rec("x*2", x * 2)
                with B.no_grad():
                    rec("nested no_grad", x.exp())
                rec("back in enable_grad", B.is_grad_enabled())
            rec("back in no_grad", B.is_grad_enabled())
        rec("after", B.is_grad_enabled())
        with B.set_grad_enabled(False):
            rec("set_grad_enabled(False) ctx", (x * 2))
            with B.set_grad_enabled(True):
                rec("set_grad_enabled(True) ctx", (x * 2))
            rec("restored False", B.is_grad_enabled())
        rec("restored True", B.is_grad_enabled())

    differ.check(prog)


def test_set_grad_enabled_as_a_function(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        try:
            B.set_grad_enabled(False)
            rec("off", [B.is_grad_enabled(), x * 2])
            B.set_grad_enabled(True)
            rec("on", [B.is_grad_enabled(), x * 2])
        finally:
            B.set_grad_enabled(True)
        rec.raises("not a bool", lambda: B.set_grad_enabled("yes"))
        rec("still on", B.is_grad_enabled())
        rec.raises("int is not a bool", lambda: B.set_grad_enabled(1))
        rec("still on 2", B.is_grad_enabled())

    differ.check(prog)


def test_decorators(differ):
    def prog(B, rec):
        x = B.leaf(2.0)

        @B.no_grad()
        def f1(t):
            """doc of f1"""
            return t * 2, B.is_grad_enabled()

        @B.no_grad
        def f2(t):
            return t * 2, B.is_grad_enabled()

        @B.enable_grad()
        def f3(t):
            return t * 2, B.is_grad_enabled()

        @B.enable_grad
        def f4(t):
            return t * 2, B.is_grad_enabled()

        @B.set_grad_enabled(False)
        def f5(t):
            return t * 2, B.is_grad_enabled()

        rec("decorating does not switch", B.is_grad_enabled())
        rec("f1", f1(x))
        rec("f2", f2(x))
        rec("f1 again", f1(x))
        rec("name and doc kept", [f1.__name__, f1.__doc__, f2.__name__])
        with B.no_grad():
            rec("f3 inside no_grad", f3(x))
            rec("f4 inside no_grad", f4(x))
            rec("mode after", B.is_grad_enabled())
        rec("f5", f5(x))
        rec("after f5", B.is_grad_enabled())

        @B.no_grad()
        def recursive(t, n):
            return t * 1 if n == 0 else recursive(t, n - 1)

        rec("reentrant decorator", recursive(x, 3))
        rec("after reentrant", B.is_grad_enabled())

    differ.check(prog)


def test_restored_on_exception(differ):
    def prog(B, rec):
        for name, ctx in (("no_grad", B.no_grad), ("set_grad_enabled", lambda: B.set_grad_enabled(False))):
            try:
                with ctx():
                    raise ValueError("boom")
            except ValueError as e:
                rec(name + " exception passes through", str(e))
            rec(name + " restored", B.is_grad_enabled())

        @B.no_grad()
        def fails():
            raise KeyError("k")

        try:
            fails()
        except KeyError:
            rec("decorator restored", B.is_grad_enabled())
        with B.no_grad():
            try:
                with B.enable_grad():
                    raise ValueError
            except ValueError:
                rec("enable_grad restored to off", B.is_grad_enabled())

    differ.check(prog)


def test_thread_local(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        res = {}

        def worker():
            res["thread_enabled"] = B.is_grad_enabled()
            res["thread_op_requires_grad"] = (x * 2).requires_grad
            B.set_grad_enabled(False)
            res["thread_after_disable"] = B.is_grad_enabled()

        with B.no_grad():
            t = threading.Thread(target=worker)
            t.start()
            t.join()
            res["main_inside_no_grad"] = B.is_grad_enabled()
        res["main_after"] = B.is_grad_enabled()
        rec("res", res)

    differ.check(prog)


def test_threads_do_not_interfere(differ):
    """Two threads flipping their own mode many times never see each other's."""
    engine = differ.engine
    barrier = threading.Barrier(2)
    errors = []

    def worker(mode):
        try:
            engine.set_grad_enabled(mode)
            barrier.wait()
            x = engine.Value(1.0, requires_grad=True)
            for _ in range(2000):
                if engine.is_grad_enabled() is not mode or (x * 2).requires_grad is not mode:
                    errors.append(mode)
                    return
                with engine.set_grad_enabled(not mode):
                    pass
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(m,)) for m in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert engine.is_grad_enabled()


def test_backward_runs_under_no_grad(differ):
    def prog(B, rec):
        x = B.leaf(2.0)
        y = x.sin() * x
        with B.no_grad():
            y.backward()
            rec("grad mode inside", B.is_grad_enabled())
        rec("x.grad", x.grad)
        rec("mode after", B.is_grad_enabled())

    differ.check(prog)


@pytest.mark.parametrize("kind", ["no_grad", "enable_grad"])
def test_bare_class_usable_as_context_twice(differ, kind):
    def prog(B, rec):
        ctx = getattr(B, kind)()
        with B.set_grad_enabled(kind == "no_grad"):
            with ctx:
                rec("1", B.is_grad_enabled())
            with ctx:
                rec("2", B.is_grad_enabled())
            rec("after", B.is_grad_enabled())

    differ.check(prog)


# -- all_threads: the flag an op reads before its own thread's mode ----------------------
# An op records if ``all_threads.enabled or state.enabled`` (engine/grad_mode.py); the
# flag must be off whenever grad mode is off in any thread.

def _threads_off(n: int) -> bool:
    from engine.grad_mode import all_threads
    return all_threads.off == n and all_threads.enabled is (n == 0)


def _records(engine) -> list:
    """Whether each op helper recorded: the written-out ops, _unary and _binary."""
    x = engine.Value(1.0, requires_grad=True)
    return [(x * 2).requires_grad, (x + 1).requires_grad, x.tanh().requires_grad,
            x.exp().requires_grad, (x - x).requires_grad]


def test_all_threads_counts_the_threads_whose_mode_is_off():
    import engine
    assert _threads_off(0)
    with engine.no_grad():
        assert _threads_off(1) and _records(engine) == [False] * 5
        with engine.no_grad():
            assert _threads_off(1)
        with engine.enable_grad():
            assert _threads_off(0) and _records(engine) == [True] * 5
        assert _threads_off(1)
    assert _threads_off(0)
    started, release = threading.Event(), threading.Event()

    def worker():
        with engine.no_grad():
            started.set()
            release.wait()

    t = threading.Thread(target=worker)
    t.start()
    started.wait()
    try:
        assert _threads_off(1)
        assert _records(engine) == [True] * 5  # another thread's mode is off, not this one's
        with engine.set_grad_enabled(False):
            assert _threads_off(2) and _records(engine) == [False] * 5
        assert _threads_off(1)
    finally:
        release.set()
        t.join()
    assert _threads_off(0)


def test_a_thread_that_ends_with_its_mode_off_is_counted_no_more():
    import engine
    t = threading.Thread(target=engine.set_grad_enabled, args=(False,))
    t.start()
    t.join()
    assert _threads_off(0)


def test_a_backward_counts_while_it_runs_and_not_after():
    import engine
    x = engine.Value(2.0, requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(_threads_off(1)))
    (x * x).backward()
    engine.grad(x * x, x, create_graph=True)
    y = x * 3
    y.grad_fn.register_prehook(lambda g: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        y.backward()
    assert seen == [True, False] and _threads_off(0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["no_grad", "enable_grad", "on", "off", "exit"]), max_size=30))
def test_any_nesting_keeps_the_count(steps):
    """Random nestings of the context managers and set_grad_enabled calls in one
    thread: the flag is on exactly when this thread's mode is, and ops record then."""
    import engine
    outer = engine.is_grad_enabled()
    stack = ExitStack()
    for step in steps:
        if step == "exit":
            stack.close()
        elif step in ("on", "off"):
            stack.enter_context(engine.set_grad_enabled(step == "on"))
        else:
            stack.enter_context(getattr(engine, step)())
        on = engine.is_grad_enabled()
        assert _threads_off(0 if on else 1) and _records(engine) == [on] * 5
    stack.close()
    assert engine.is_grad_enabled() is outer and _threads_off(0)

"""no_grad / enable_grad / set_grad_enabled / is_grad_enabled, thread-local."""

import threading

import pytest


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

"""Tensor hooks, retain_grad after hooks, hooks in grad(), post-accumulate
hooks, node pre/post hooks, and the order in which everything runs."""

import warnings


def test_leaf_and_non_leaf_hooks(differ):
    def prog(B, rec):
        log = []
        x = B.leaf(2.0)
        h = x.register_hook(lambda g: log.append(("x", rec.norm(g), rec.norm(x.grad))))
        y = x * 3
        hy = y.register_hook(lambda g: log.append(("y", rec.norm(g))))
        z = y * y
        z.backward(retain_graph=True)
        rec("log: leaf hook before accumulation", log)
        rec("x.grad", x.grad)
        h.remove()
        hy.remove()
        h.remove()  # idempotent
        x.grad = None
        h2 = x.register_hook(lambda g: g * 10)
        z.backward(retain_graph=True)
        rec("leaf hook g*10", x.grad)
        h2.remove()
        x.grad = None
        hy2 = y.register_hook(lambda g: B.const(1.0))
        z.backward(retain_graph=True)
        rec("non-leaf hook replaces dz/dy", x.grad)
        hy2.remove()
        x.grad = None
        order = []
        x.register_hook(lambda g: order.append(("h1", g.item(), rec.norm(x.grad))) or g + 1)
        x.register_hook(lambda g: order.append(("h2", g.item())))
        z.backward(retain_graph=True)
        rec("order", order)
        rec("x.grad 2", x.grad)

    differ.check(prog)


def test_hook_called_once_with_the_sum_and_handle_as_context_manager(differ):
    def prog(B, rec):
        a = B.leaf(2.0)
        seen = []
        a.register_hook(lambda g: seen.append(g.item()))
        (a * a + a * 3).backward()
        rec("once with sum", seen)
        rec("a.grad", a.grad)
        with a.register_hook(lambda g: g * 1000):
            a.grad = None
            (a * 1).backward()
            rec("inside with", a.grad)
        a.grad = None
        (a * 1).backward()
        rec("after with", a.grad)

    differ.check(prog)


def test_hook_errors(differ):
    def prog(B, rec):
        rec.raises("no requires_grad", lambda: B.const(1.0).register_hook(lambda g: g))
        b = B.leaf(2.0)
        b.register_hook(lambda g: 5.0)
        rec.raises("returns float", lambda: (b * 2).backward())
        c = B.leaf(2.0)
        y = c * 3
        y.register_hook(lambda g: "x")
        rec.raises("non-leaf returns str", lambda: (y * 2).backward())

    differ.check(prog)


def test_removing_a_hook_inside_backward(differ):
    def prog(B, rec):
        a = B.leaf(2.0)
        log = []
        handles = []
        handles.append(a.register_hook(lambda g: log.append("h1") or handles[1].remove()))
        handles.append(a.register_hook(lambda g: log.append("h2")))
        (a * 2).backward()
        (a * 2).backward()
        rec("log", log)

    differ.check(prog)


def test_retain_grad_after_hooks_whatever_the_order(differ):
    def prog(B, rec):
        for first in ("retain", "hook"):
            a = B.leaf(2.0)
            b = a * 1.0
            if first == "retain":
                b.retain_grad()
                b.register_hook(lambda g: g * 100)
            else:
                b.register_hook(lambda g: g * 100)
                b.retain_grad()
            (b * 3).backward()
            rec(first, [b.grad, a.grad])

    differ.check(prog)


def test_hooks_in_grad(differ):
    def prog(B, rec):
        a = B.leaf(2.0)
        seen = []
        a.register_hook(lambda g: seen.append(g.item()) or g * 2)
        rec("leaf hook result returned", B.grad(a * 3, a))
        rec("seen", seen)
        rec("a.grad", a.grad)
        x = B.leaf(2.0)
        h = x * 3
        h.register_hook(lambda g: g * 100)
        out = h * h
        rec("non-leaf input only: after hook", B.grad(out, h, retain_graph=True))
        rec("non-leaf and upstream input: before hook", B.grad(out, [h, x]))

    differ.check(prog)


def test_post_accumulate_grad_hooks(differ):
    def prog(B, rec):
        a = B.leaf(2.0)
        ev = []
        a.register_hook(lambda g: ev.append(("pre", g.item())))
        a.register_post_accumulate_grad_hook(lambda t: ev.append(("post", t is a, t.grad.item())))
        (a * 3).backward()
        (a * 3).backward()
        B.grad(a * 3, a)
        rec("events", ev)
        rec.raises("non-leaf", lambda: (a * 2).register_post_accumulate_grad_hook(lambda t: None))
        h = a.register_post_accumulate_grad_hook(lambda t: ev.append("second post"))
        ev.clear()
        (a * 1).backward()
        h.remove()
        (a * 1).backward()
        rec("events 2", ev)

    differ.check(prog)


def test_post_accumulate_hook_on_leaf_without_requires_grad(differ):
    def prog(B, rec):
        rec.raises("no requires_grad", lambda: B.const(2.0).register_post_accumulate_grad_hook(lambda t: None))


def test_post_accumulate_hook_returning_something(differ):
    """torch raises "expected Variable, but hook returned 'int'" after accumulating."""

    def prog(B, rec):
        a = B.leaf(2.0)
        a.register_post_accumulate_grad_hook(lambda t: 123)
        rec.raises("returns int", lambda: (a * 3).backward())
        rec("a.grad", a.grad)
        b = B.leaf(2.0)
        b.register_post_accumulate_grad_hook(lambda t: t)
        rec.raises("returns the Value", lambda: (b * 3).backward())
        rec("b.grad", b.grad)

    differ.check(prog)


def test_execution_order(differ):
    def prog(B, rec):
        order = []

        def tag(n):
            return lambda g: order.append((n, g.item()))

        x = B.leaf(2.0)
        y = B.leaf(3.0)
        x.register_hook(tag("x"))
        y.register_hook(tag("y"))
        a = x * y
        a.register_hook(tag("a"))
        b = x + y
        b.register_hook(tag("b"))
        c = a.exp()
        c.register_hook(tag("c"))
        d = b * 2
        d.register_hook(tag("d"))
        out = c * 0 + d + a
        out.register_hook(tag("out"))
        out.backward()
        rec("order", order)
        seq = [t.grad_fn._sequence_nr() for t in (a, b, c, d, out)]
        rec("sequence numbers increase", seq == sorted(seq))
        order.clear()
        e = y.exp()
        e.register_hook(tag("e"))
        (e + x).backward()
        rec("leaf accumulation first", order)

    differ.check(prog)


def test_order_in_a_diamond_with_several_outputs(differ):
    def prog(B, rec):
        order = []

        def tag(n):
            return lambda g: order.append((n, round(g.item(), 9)))

        x = B.leaf(0.5)
        x.register_hook(tag("x"))
        h = x.sin()
        h.register_hook(tag("h"))
        p = h * x
        p.register_hook(tag("p"))
        q = h.exp()
        q.register_hook(tag("q"))
        r = p + q
        r.register_hook(tag("r"))
        s = q * 3
        s.register_hook(tag("s"))
        B.backward([r, s], [B.seed(1.0), B.seed(2.0)])
        rec("order", order)
        rec("x.grad", x.grad)

    differ.check(prog)


def test_node_prehooks_and_hooks(differ):
    def prog(B, rec):
        log = []
        p = B.leaf(2.0)
        q = (p * 3).exp()
        q.grad_fn.register_prehook(lambda go: log.append(("prehook", rec.norm(go))))
        q.grad_fn.register_hook(lambda gi, go: log.append(("hook", rec.norm(gi), rec.norm(go))))
        q.backward(retain_graph=True)
        rec("log", log)
        rec("p.grad", p.grad)
        # a prehook may replace the incoming gradients, a hook the outgoing ones
        p.grad = None
        m = p * 3
        hm = m.grad_fn.register_prehook(lambda go: (go[0] * 2,))
        (m * 1).backward()
        rec("prehook doubles", p.grad)
        hm.remove()
        p.grad = None
        m = p * 3
        m.grad_fn.register_hook(lambda gi, go: (gi[0] * 10, None))
        (m * 1).backward()
        rec("hook x10", p.grad)

    differ.check(prog)


def test_tensor_hook_runs_before_node_prehook(differ):
    def prog(B, rec):
        log = []
        p = B.leaf(2.0)
        m = p.sin()
        m.grad_fn.register_prehook(lambda go: log.append(("prehook", go[0].item())))
        m.register_hook(lambda g: log.append(("tensor hook", g.item())) or g * 2)
        m.grad_fn.register_hook(lambda gi, go: log.append(("posthook", gi[0].item(), go[0].item())))
        (m * 5).backward()
        rec("log", log)
        rec("p.grad", p.grad)

    differ.check(prog)


def test_hooks_under_create_graph(differ):
    def prog(B, rec):
        x = B.leaf(1.5)
        seen = []
        x.register_hook(lambda g: seen.append(rec.norm(g, node_names=False)) or g * g)
        y = x.sin()
        y.register_hook(lambda g: seen.append(rec.norm(g, node_names=False)))
        g, = B.grad(y * x, x, create_graph=True)
        rec("g", g, node_names=False)
        rec("seen", seen)
        rec("d g", B.grad(g, x))

    differ.check(prog)


def test_retain_grad_under_create_graph(differ):
    def prog(B, rec):
        x = B.leaf(1.5)
        y = x * x
        y.retain_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (y.sin()).backward(create_graph=True)
        rec("y.grad", y.grad, node_names=False)
        rec("x.grad", x.grad, node_names=False)

    differ.check(prog)

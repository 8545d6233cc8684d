"""Issue 9, rules 2-6 and 13: hooks, the moment a leaf's .grad changes, which nodes run.

Each program runs on torch and on the engine (the ``differ`` fixture); hook calls are
logged with what they saw, so the order of everything is compared too.
"""

import pytest


def function_base(B):
    """torch.autograd.Function or engine.Function."""
    return B.lib.autograd.Function if B.name == "torch" else B.lib.Function


# ---------------------------------------------------------------------------------
# Rule 2: node post-hooks that return None leave the gradients alone
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("create_graph", [False, True])
def test_2_post_hook_returning_none_keeps_gradients(differ, create_graph):
    def prog(B, rec):
        log = []
        x = B.leaf(2.0)
        y = B.leaf(-1.5)
        z = x * y
        w = z.exp() + z
        z.grad_fn.register_hook(lambda gi, go: log.append(("z post", rec.norm(gi), rec.norm(go))))
        w.grad_fn.register_hook(lambda gi, go: None)
        w.backward(create_graph=create_graph, retain_graph=True)
        w.backward(create_graph=create_graph)  # accumulates into the existing .grad
        rec("log", log)
        rec("grads", [x.grad, y.grad], node_names=False)
        rec("grad of grad is a number", [type(x.grad.item()).__name__, type(y.grad.item()).__name__])

    differ.check(prog)


def test_2_post_hook_none_then_replacing_hook(differ):
    def prog(B, rec):
        x = B.leaf(0.5)
        y = x.sin() * x
        n = y.grad_fn
        n.register_hook(lambda gi, go: None)
        n.register_hook(lambda gi, go: tuple(g * 2 for g in gi))
        n.register_hook(lambda gi, go: None)
        rec("grad", B.grad(y, x, retain_graph=True))
        y.backward()
        rec("x.grad", x.grad)

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 3: a leaf's .grad changes as soon as all its gradient has arrived
# ---------------------------------------------------------------------------------

def test_3_later_node_hooks_see_the_new_grad(differ):
    def prog(B, rec):
        seen = []
        a = B.leaf(1.0)
        b = B.leaf(2.0)
        s = a * 3
        t = s * b
        u = t.exp() * a
        u.grad_fn.register_hook(lambda gi, go: seen.append(("post u", rec.norm(a.grad), rec.norm(b.grad))))
        t.grad_fn.register_hook(lambda gi, go: seen.append(("post t", rec.norm(a.grad), rec.norm(b.grad))))
        s.grad_fn.register_prehook(lambda go: seen.append(("pre s", rec.norm(a.grad), rec.norm(b.grad))))
        s.grad_fn.register_hook(lambda gi, go: seen.append(("post s", rec.norm(a.grad), rec.norm(b.grad))))
        u.backward()
        rec("seen", seen)

    differ.check(prog)


def test_3_tensor_hooks_see_other_leaves_grad(differ):
    def prog(B, rec):
        seen = []
        a = B.leaf(0.3)
        b = B.leaf(-0.7)
        m = a * b  # b's gradient is complete once m's node has run
        n = m.tanh()
        o = n * a + n
        a.register_hook(lambda g: seen.append(("a hook", rec.norm(b.grad))))
        n.register_hook(lambda g: seen.append(("n hook", rec.norm(a.grad), rec.norm(b.grad))))
        m.register_hook(lambda g: seen.append(("m hook", rec.norm(a.grad), rec.norm(b.grad))))
        o.backward(retain_graph=True)
        o.backward()
        rec("seen", seen)
        rec("grads", [a.grad, b.grad])

    differ.check(prog)


def test_3_leaf_hook_sees_another_leafs_new_grad(differ):
    """No hooks on nodes: only one leaf's hook observes the moment other leaves finish."""
    def prog(B, rec):
        seen = []
        a = B.leaf(0.3)
        b = B.leaf(-0.7)
        c = B.leaf(2.0)
        o = (a.exp() * a).sin() * b + c  # c, then b, are complete long before a
        a.register_hook(lambda g: seen.append(("a", rec.norm(b.grad), rec.norm(c.grad))))
        o.backward(retain_graph=True)
        o.backward(retain_graph=True)
        b.grad = None
        B.backward([o * 1, c * b])
        rec("seen", seen)

    differ.check(prog)


def test_3_post_accumulate_grad_hook(differ):
    def prog(B, rec):
        seen = []
        a = B.leaf(1.5)
        b = B.leaf(0.5)
        a.register_post_accumulate_grad_hook(lambda t: seen.append(("a post", rec.norm(t.grad), rec.norm(b.grad))))
        b.register_post_accumulate_grad_hook(lambda t: seen.append(("b post", rec.norm(a.grad), rec.norm(t.grad))))
        a.register_hook(lambda g: seen.append(("a hook", rec.norm(g), rec.norm(a.grad))))
        c = (a * b).sin()
        d = c * a
        d.backward()
        rec("seen", seen)
        seen.clear()
        rec("grad() does not accumulate", B.grad(a * b, [a, b]))
        rec("seen in grad()", seen)
        d2 = a * b
        d2.backward(inputs=[b])
        rec("inputs=[b] only b", seen)
        rec.raises("on a non-leaf", lambda: d2.register_post_accumulate_grad_hook(lambda t: None))
        rec.raises("on a constant", lambda: B.leaf(1.0, requires_grad=False).register_post_accumulate_grad_hook(
            lambda t: None))

    differ.check(prog)


def test_3_post_accumulate_hook_with_create_graph_sees_graph_grad(differ):
    def prog(B, rec):
        seen = []
        a = B.leaf(1.5)
        a.register_post_accumulate_grad_hook(lambda t: seen.append(rec.norm(t.grad, node_names=False)))
        with __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore")
            (a ** 3).backward(create_graph=True)
        rec("seen", seen)

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 4: backward(inputs=[m]) with a non-leaf m runs m's own node
# ---------------------------------------------------------------------------------

def test_4_non_leaf_input_node_runs_is_freed_and_hooks_fire(differ):
    def prog(B, rec):
        log = []
        x = B.leaf(2.0)
        m = x.exp()
        y = m * m
        m.grad_fn.register_prehook(lambda go: log.append(("m pre", rec.norm(go))))
        m.grad_fn.register_hook(lambda gi, go: log.append(("m post", rec.norm(gi))))
        m.register_hook(lambda g: log.append(("m hook", rec.norm(g))))
        x.register_hook(lambda g: log.append(("x hook", rec.norm(g))))
        y.backward(inputs=[m])
        rec("log", log)
        rec.grad_of("m.grad", m)
        rec("x.grad", x.grad)
        rec.raises("m's node was freed", lambda: m.backward())
        rec.raises("y's node was freed", lambda: y.backward())

    differ.check(prog)


def test_4_non_leaf_input_with_retain_graph_then_full_backward(differ):
    def prog(B, rec):
        x = B.leaf(0.25)
        w = B.leaf(3.0)
        m = x * w
        y = m.sin() + m * w
        y.backward(inputs=[m, w], retain_graph=True)
        rec.grad_of("m.grad", m)
        rec("w.grad, x.grad", [w.grad, x.grad])
        y.backward()
        rec.grad_of("m.grad 2", m)
        rec("w.grad, x.grad 2", [w.grad, x.grad])

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 5: with inputs=, hooks of roots that lead to no input do not fire
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("api", ["backward", "grad"])
def test_5_roots_leading_nowhere_stay_silent(differ, api):
    def prog(B, rec):
        log = []
        x = B.leaf(1.0)
        y = B.leaf(2.0)
        r1 = x * 2
        r2 = y * 3
        r3 = (x * y).sin()
        for name, r in (("r1", r1), ("r2", r2), ("r3", r3)):
            r.register_hook(lambda g, name=name: log.append((name, "hook", rec.norm(g))))
            r.grad_fn.register_prehook(lambda go, name=name: log.append((name, "pre")))
            r.grad_fn.register_hook(lambda gi, go, name=name: log.append((name, "post")))
        y.register_hook(lambda g: log.append(("y hook",)))
        if api == "backward":
            B.backward([r1, r2, r3], inputs=[x])
            rec("x.grad, y.grad", [x.grad, y.grad])
        else:
            rec("grad", B.grad([r1, r2, r3], [x]))
        rec("log", log)
        rec.raises("r2 not freed", lambda: r2.backward())

    differ.check(prog)


def test_5_captured_node_not_run_shows_tensor_hooks_only(differ):
    def prog(B, rec):
        log = []
        x = B.leaf(1.0)
        m = x.exp()
        y = m * 2
        m.register_hook(lambda g: log.append(("m hook", rec.norm(g))) or g * 10)
        m.retain_grad()
        m.grad_fn.register_prehook(lambda go: log.append(("m pre",)))
        m.grad_fn.register_hook(lambda gi, go: log.append(("m post",)))
        rec("grad wrt m", B.grad(y, m))
        rec("log", log)
        rec.grad_of("m.grad", m)
        rec("m's node not run: not freed", B.grad(m, x))

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 6: pow's double backward runs the original pow node again
# ---------------------------------------------------------------------------------

POWS = {
    "x ** e": lambda x, e: x ** e,
    "2.5 ** e": lambda x, e: 2.5 ** e,
    "0.0 ** e": lambda x, e: 0.0 ** e,
    "x ** 2.5": lambda x, e: x ** 2.5,
    "x ** x": lambda x, e: x ** x,
}


@pytest.mark.parametrize("expr", list(POWS))
def test_6_pow_double_backward_reruns_the_pow_node(differ, expr):
    def prog(B, rec):
        log = []
        x = B.leaf(1.5)
        e = B.leaf(0.75)
        z = POWS[expr](x, e)
        z.grad_fn.register_hook(lambda gi, go: log.append(("pow post", rec.norm(gi, node_names=False))))
        z.grad_fn.register_prehook(lambda go: log.append(("pow pre", rec.norm(go, node_names=False))))
        gs = B.grad(z, [x, e], create_graph=True, allow_unused=True)
        rec("first", gs)
        log.append("--- second order ---")
        used = [g for g in gs if g is not None and g.requires_grad]
        if used:
            rec("second", B.grad(sum(used), [x, e], allow_unused=True))
        rec("log", log)
        z2 = POWS[expr](x, e)
        g2 = B.grad(z2, [x, e], create_graph=True, retain_graph=False, allow_unused=True)
        used = [g for g in g2 if g is not None and g.requires_grad]
        if used:
            rec.raises("freed pow node", lambda: B.grad(sum(used), [x, e], allow_unused=True))

    differ.check(prog)


@pytest.mark.parametrize("base", [0.0, 2.0, -2.0])
@pytest.mark.parametrize("exponent", [0.0, 2.0, -1.0, 0.5])
def test_6_pow_double_backward_values_at_special_points(differ, base, exponent):
    def prog(B, rec):
        x = B.leaf(base)
        e = B.leaf(exponent)
        for z in (x ** e, base ** e, x ** exponent):
            gs = B.grad(z, [x, e], create_graph=True, allow_unused=True)
            rec("first", gs)
            for g in gs:
                if g is not None and g.requires_grad:
                    rec("second", B.grad(g, [x, e], allow_unused=True, retain_graph=True))

    differ.check(prog)


# ---------------------------------------------------------------------------------
# Rule 13: a custom backward returning None still runs the nodes behind it
# ---------------------------------------------------------------------------------

def make_drop_first(B):
    class DropFirst(function_base(B)):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return None, g

    return DropFirst


def test_13_nodes_behind_a_none_gradient_run_and_are_freed(differ):
    def prog(B, rec):
        log = []
        x = B.leaf(2.0)
        w = B.leaf(3.0)
        h = x * 2
        k = h.exp()
        h.register_hook(lambda g: log.append(("h hook", rec.norm(g))))
        h.grad_fn.register_prehook(lambda go: log.append(("h pre", rec.norm(go))))
        h.grad_fn.register_hook(lambda gi, go: log.append(("h post", rec.norm(gi), rec.norm(go))))
        k.grad_fn.register_hook(lambda gi, go: log.append(("k post", rec.norm(gi), rec.norm(go))))
        x.register_hook(lambda g: log.append(("x hook", rec.norm(g))))
        x.register_post_accumulate_grad_hook(lambda t: log.append(("x post acc", rec.norm(t.grad))))
        y = make_drop_first(B).apply(k, w)
        y.backward()
        rec("log", log)
        rec("grads", [x.grad, w.grad])
        rec.raises("h's node was freed", lambda: (h * 1).backward())
        rec.raises("k's node was freed", lambda: (k * 1).backward())

    differ.check(prog)


def test_13_none_gradient_meets_a_real_one(differ):
    def prog(B, rec):
        log = []
        x = B.leaf(0.5)
        w = B.leaf(-2.0)
        h = x.sin()
        h.register_hook(lambda g: log.append(("h hook", rec.norm(g))))
        y = make_drop_first(B).apply(h, w) + h * w
        y.backward(retain_graph=True)
        rec("log", log)
        rec("grads", [x.grad, w.grad])
        rec("grad()", B.grad(y, [x, w, h], retain_graph=True))
        rec.raises("grad() of h alone through the None", lambda: B.grad(make_drop_first(B).apply(h, w), [h]))
        rec("allow_unused", B.grad(make_drop_first(B).apply(h, w), [h, x], allow_unused=True))

    differ.check(prog)


def test_13_none_gradient_with_create_graph(differ):
    def prog(B, rec):
        x = B.leaf(0.5)
        w = B.leaf(-2.0)
        h = x * x
        y = make_drop_first(B).apply(h, w) * h
        gs = B.grad(y, [x, w], create_graph=True)
        rec("first", gs, node_names=False)
        rec("second", B.grad(gs[0], [x, w], allow_unused=True))

    differ.check(prog)

"""A stand-in for ``engine.viz`` while that module does not exist yet.

graphs.py installs this as ``engine.viz`` only when ``import engine.viz`` fails, so the
site builds and its tests run before the real module lands; once it does, the real one is
used and this file can go. It draws with the graphviz package directly, from what the
engine's public API exposes (``grad_fn``, ``next_functions``, ``AccumulateGrad.variable``).
"""

from __future__ import annotations

import graphviz


def _fmt(v) -> str:
    return f"{v.item():.4g}"


def make_dot(outputs, params=None, show_saved=False):
    """The backward graph, torchviz-style: grad_fn nodes, named leaves, outputs."""
    outs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    names = {id(v): k for k, v in (params or {}).items()}
    dot = graphviz.Digraph(node_attr={"style": "filled", "shape": "box", "align": "left",
                                      "fontsize": "10", "height": "0.2"},
                           graph_attr={"size": "12,12"})
    seen = set()
    stack = []
    for v in outs:
        vid = f"v{id(v)}"
        label = f"{names.get(id(v), '')}\n{_fmt(v)}".strip()
        dot.node(vid, label, fillcolor="darkolivegreen1")
        if v.grad_fn is not None:
            dot.edge(f"n{id(v.grad_fn)}", vid)
            stack.append(v.grad_fn)
        elif v.requires_grad:
            seen.add(f"v{id(v)}")
    while stack:
        fn = stack.pop()
        nid = f"n{id(fn)}"
        if nid in seen:
            continue
        seen.add(nid)
        if fn.name() == "AccumulateGrad":
            var = fn.variable
            dot.node(nid, f"{names.get(id(var), '')}\n{_fmt(var)}".strip(), fillcolor="lightblue")
            continue
        dot.node(nid, fn.name(), fillcolor="lightgrey")
        for child, _ in fn.next_functions:
            if child is None:
                continue
            dot.edge(f"n{id(child)}", nid)
            stack.append(child)
    return dot


def draw_dot(root):
    """The forward graph, micrograd-style, as far as the public API shows it."""
    dot = graphviz.Digraph(graph_attr={"rankdir": "LR"})
    names = {}

    def value_node(v):
        vid = f"v{id(v)}"
        g = v.grad if (v.is_leaf or v.retains_grad) else None
        grad = "None" if g is None else _fmt(g)
        dot.node(vid, f"{{ {v.name or ''} | data {_fmt(v)} | grad {grad} }}", shape="record")
        return vid

    rid = value_node(root)
    stack = [(root.grad_fn, rid)] if root.grad_fn is not None else []
    seen = set()
    while stack:
        fn, target = stack.pop()
        if fn is None:
            continue
        oid = f"op{id(fn)}"
        dot.node(oid, fn.name().replace("Backward0", "").replace("Backward1", "").lower(), shape="ellipse")
        dot.edge(oid, target)
        if oid in seen:
            continue
        seen.add(oid)
        for child, _ in fn.next_functions:
            if child is None:
                continue
            if child.name() == "AccumulateGrad":
                dot.edge(value_node(child.variable), oid)
            else:
                cid = f"i{id(child)}"
                dot.node(cid, "", shape="point")
                dot.edge(cid, oid)
                stack.append((child, cid))
    return dot

"""What a backward walk did, one event per step: the trace ``engine.viz.record_backward`` gives.

The walk in ``engine.autograd`` reports to an observer (a callable taking one event)
when one is installed for the current thread; these are the events it reports, in the
order it does things:

- ``Seed``: ``backward``/``grad`` hands an output its first gradient;
- ``NodeStart``: a node starts, with the gradient it received and what it saved;
- ``Deliver``: a node sends a gradient along one of its edges (to a node or a leaf);
- ``Sum``: that gradient is added to one already waiting there (a value used twice);
- ``HookFired``: a hook ran, with what it returned;
- ``Accumulate``: a leaf's ``.grad`` goes from ``old`` to ``new``;
- ``Freed``: a node's saved values are freed (a backward without ``retain_graph``);
- ``NodeCreated``: under ``create_graph``, a node's backward recorded a new node;
- ``Raised``: a node raised (the second call on a freed graph).

Numbers are kept as plain floats (a Value's ``.data``), so a trace shows what the walk
saw at that moment even if the Values change later; nodes and leaves are the objects.

>>> from engine import Value
>>> from engine.viz import record_backward
>>> x = Value(2.0, requires_grad=True, name="x")
>>> with record_backward() as trace:
...     (x * 3.0).backward()
>>> [type(e).__name__ for e in trace]
['Seed', 'NodeStart', 'Freed', 'Deliver', 'Accumulate']
>>> trace[-1].new
3.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .value import Value

__all__ = ["Seed", "NodeStart", "Deliver", "Sum", "HookFired", "Accumulate", "Freed",
           "NodeCreated", "Raised", "Event", "freed_names", "number", "saved_numbers"]


def number(g: Any) -> Any:
    """A gradient as what it was at that moment: a float, None, or a tuple of them."""
    if g is None:
        return None
    if g.__class__ is Value:
        return g._data
    if isinstance(g, (list, tuple)):
        return tuple(number(x) for x in g)
    return g


def saved_numbers(node) -> tuple:
    """``((name, number), ...)``: what ``node`` saved for its backward, as torch names it
    (``_saved_self``, ``saved_tensors[0]``); empty once freed or if it saved nothing."""
    if getattr(type(node), "saved_tensors", None) is not None:  # a custom Function's ctx
        if node._freed:
            return ()
        return tuple((f"saved_tensors[{i}]", number(v)) for i, v in enumerate(node.saved_tensors))
    out = []
    for name in getattr(node, "_saved_names", ()):
        try:
            out.append((name, number(getattr(node, "_saved_" + name))))
        except RuntimeError:  # freed
            return ()
    return tuple(out)


def freed_names(node) -> tuple:
    """The names of what freeing drops from ``node`` (a saved number, such as an
    exponent, is kept)."""
    if getattr(type(node), "saved_tensors", None) is not None:
        return ("saved_tensors",)
    names = getattr(node, "_saved_names", ())
    sources = getattr(node, "_sources", ())
    return tuple(name for name, src in zip(names, sources) if src is not None)


@dataclass(frozen=True)
class Seed:
    """``target`` (a node, or a leaf Value that is itself an output) gets ``grad``."""
    target: Any
    grad: Any


@dataclass(frozen=True)
class NodeStart:
    """``node`` starts with the gradient it received (a tuple for several outputs)."""
    node: Any
    grad: Any
    saved: tuple = ()


@dataclass(frozen=True)
class Deliver:
    """``node`` sends ``grad`` along its edge ``input_nr`` to ``target`` (a node or a leaf)."""
    node: Any
    target: Any
    input_nr: int
    grad: Any


@dataclass(frozen=True)
class Sum:
    """At ``target``, ``added`` joins the ``old`` gradient waiting there: ``total``."""
    target: Any
    old: Any
    added: Any
    total: Any


@dataclass(frozen=True)
class HookFired:
    """A hook ran. ``kind``: "tensor" (a Value's hook), "pre" or "post" (a node's),
    "post_accumulate"; ``target``: the node or leaf; ``returned``: what it gave back
    (None: it changed nothing)."""
    kind: str
    target: Any
    hook: Any
    returned: Any


@dataclass(frozen=True)
class Accumulate:
    """Leaf ``leaf``'s ``.grad`` goes from ``old`` (None: it had none) to ``new``."""
    leaf: Value
    old: Optional[float]
    new: Optional[float]


@dataclass(frozen=True)
class Freed:
    """``node``'s saved values (``names``) are freed: running it again raises."""
    node: Any
    names: tuple


@dataclass(frozen=True)
class NodeCreated:
    """Under ``create_graph``, the backward of ``by`` recorded ``node``."""
    node: Any
    by: Any


@dataclass(frozen=True)
class Raised:
    """``node`` raised ``error`` (its type name and message)."""
    node: Any
    error: str
    message: str


Event = (Seed, NodeStart, Deliver, Sum, HookFired, Accumulate, Freed, NodeCreated, Raised)

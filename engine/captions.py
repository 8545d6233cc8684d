"""A step of a backward walk in words, in English and Chinese: the player's captions.

``describe(events, name)`` takes the events of one player step (``engine.events``) and
a function giving each node or leaf its display name, and returns
``{"en": ..., "zh": ...}``.  Numbers are written with 4 significant digits, so a
caption reads the same on every machine.

>>> from engine import Value
>>> from engine.events import Accumulate
>>> x = Value(2.0, requires_grad=True)
>>> describe([Accumulate(x, 1.0, 3.0)], lambda thing: "x")["en"]
'x.grad accumulates: 1.0 + 2.0 = 3.0.'
"""
# ruff: noqa: RUF001  (the Chinese captions use full-width punctuation on purpose)

from __future__ import annotations

from typing import Any, Callable

from . import events as ev

__all__ = ["capped_note", "describe", "number_text"]


def number_text(x: Any) -> str:
    """1.0, 3.0, -0.4161: integers with one decimal, others to 4 significant digits.

    >>> number_text(3), number_text(-0.98999), number_text(None), number_text((1.0, None))
    ('3.0', '-0.99', 'None', '(1.0, None)')
    """
    if x is None:
        return "None"
    if isinstance(x, tuple):
        return "(" + ", ".join(number_text(v) for v in x) + ")"
    x = float(x)
    if x == int(x) and abs(x) < 1e6:
        return f"{x:.1f}"
    return f"{x:.4g}"


N = number_text

HOOK_KINDS = {
    "tensor": ("a hook on", "上的钩子"),
    "pre": ("a pre-hook of", "的前置钩子"),
    "post": ("a post-hook of", "的后置钩子"),
    "post_accumulate": ("a post-accumulate-grad hook of", "的累加后钩子"),
}


def _seeds(events: list, name: Callable) -> dict:
    en = "; ".join(f"{name(e.target)} gets the gradient {N(e.grad)}" for e in events)
    zh = "；".join(f"{name(e.target)} 得到梯度 {N(e.grad)}" for e in events)
    return {"en": f"The walk starts: {en}.", "zh": f"反向遍历开始：{zh}。"}


def _hook(e: ev.HookFired, name: Callable) -> dict:
    what_en, what_zh = HOOK_KINDS[e.kind]
    who = name(e.target)
    if e.returned is None:
        return {"en": f"Hook: {what_en} {who} runs and returns None: the gradient goes on unchanged.",
                "zh": f"钩子：{who} {what_zh}运行，返回 None：梯度原样继续传递。"}
    return {"en": f"Hook: {what_en} {who} runs and returns {N(e.returned)}, which replaces the gradient.",
            "zh": f"钩子：{who} {what_zh}运行，返回 {N(e.returned)}，替换了梯度。"}


def _accumulate(e: ev.Accumulate, name: Callable) -> dict:
    leaf = name(e.leaf)
    if e.old is None:
        return {"en": f"All of {leaf}'s gradient has arrived: {leaf}.grad was None and is now {N(e.new)}.",
                "zh": f"{leaf} 的梯度已全部到达：{leaf}.grad 原为 None，现在是 {N(e.new)}。"}
    added = None if e.new is None else e.new - e.old
    return {"en": f"{leaf}.grad accumulates: {N(e.old)} + {N(added)} = {N(e.new)}.",
            "zh": f"{leaf}.grad 累加：{N(e.old)} + {N(added)} = {N(e.new)}。"}


def _raised(start: ev.NodeStart, e: ev.Raised, name: Callable) -> dict:
    message = e.message.split(" (")[0]
    who = name(start.node)
    return {"en": f"{who} receives {N(start.grad)} but cannot run: its saved values were freed by an "
                  f"earlier backward. {e.error}: {message}.",
            "zh": f"{who} 收到 {N(start.grad)}，但无法运行：它保存的值已被之前的一次反向传播释放。"
                  f"{e.error}: {message}。"}


def _node(events: list, name: Callable) -> dict:
    start = events[0]
    for e in events:
        if type(e) is ev.Raised:
            return _raised(start, e, name)
    who = name(start.node)
    saved = dict(start.saved)
    delivers = [e for e in events if type(e) is ev.Deliver]
    en: list = []
    zh: list = []
    if start.node.name() == "MulBackward0" and len(saved) == 2 and delivers:
        parts_en, parts_zh = [], []
        for d in delivers:
            s = "other" if d.input_nr == 0 else "self"  # d(a*b)/da = b, d(a*b)/db = a
            parts_en.append(f"multiplies {N(start.grad)} by the saved {s} = {N(saved[s])} "
                            f"and sends {N(d.grad)} to {name(d.target)}")
            parts_zh.append(f"把 {N(start.grad)} 乘以保存的 {s} = {N(saved[s])}，把 {N(d.grad)} 传给 {name(d.target)}")
        en.append(f"{who} " + "; it ".join(parts_en) + ".")
        zh.append(f"{who} " + "；它".join(parts_zh) + "。")
    else:
        got_en = f"{who} runs on the gradient {N(start.grad)}"
        got_zh = f"{who} 以梯度 {N(start.grad)} 运行"
        if saved:
            listing = ", ".join(f"{k} = {N(v)}" for k, v in saved.items())
            got_en += f" with its saved {listing}"
            got_zh += f"，用到它保存的 {listing}"
        if delivers:
            got_en += " and sends " + ", ".join(f"{N(d.grad)} to {name(d.target)}" for d in delivers)
            got_zh += "，传出 " + "，".join(f"{N(d.grad)} 给 {name(d.target)}" for d in delivers)
        en.append(got_en + ".")
        zh.append(got_zh + "。")
    for e in events:
        if type(e) is ev.Sum:
            where, total = name(e.target), f"{N(e.old)} + {N(e.added)} = {N(e.total)}"
            en.append(f"{where} already held {N(e.old)}: the gradients are summed, {total}.")
            zh.append(f"{where} 已有 {N(e.old)}：梯度相加，{total}。")
    freed = [e for e in events if type(e) is ev.Freed]
    if freed:
        en.append(f"Its saved values ({', '.join(freed[0].names)}) are freed.")
        zh.append(f"它保存的值（{', '.join(freed[0].names)}）被释放。")
    created = [e for e in events if type(e) is ev.NodeCreated]
    if created:
        listing = ", ".join(name(e.node) for e in created)
        plural = "s" if len(created) != 1 else ""
        en.append(f"create_graph=True: its backward recorded {len(created)} new node{plural} ({listing}).")
        zh.append(f"create_graph=True：它的反向计算记录了 {len(created)} 个新节点（{listing}）。")
    return {"en": " ".join(en), "zh": "".join(zh)}


def describe(events: list, name: Callable[[Any], str]) -> dict:
    """The caption of one step: its seeds; a node's run (with what it sent, summed,
    freed, recorded, or the error it raised); a hook; a leaf's accumulation."""
    first = events[0]
    kind = type(first)
    if kind is ev.Seed:
        return _seeds(events, name)
    if kind is ev.HookFired:
        return _hook(first, name)
    if kind is ev.Accumulate:
        return _accumulate(first, name)
    if kind is ev.NodeStart:
        return _node(events, name)
    raise ValueError(f"a step cannot start with {kind.__name__}")


def capped_note(total: int, shown: int) -> dict:
    """What a player says when it shows only the first ``shown`` of ``total`` steps."""
    left = total - shown
    return {"en": f"The walk has {total} steps; the first {shown} are shown, {left} more are left out.",
            "zh": f"这次遍历共 {total} 步；这里只显示前 {shown} 步，省略了其余 {left} 步。"}

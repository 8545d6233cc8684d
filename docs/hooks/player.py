"""MkDocs hook: step-through players of a real backward walk, drawn while the site builds.

A page asks for one with a fenced block whose language is ``player``::

    ```player id="used-twice"
    from engine import Value
    from engine.viz import record_backward
    x = Value(3.0, requires_grad=True, name="x")
    y = x * x + x.sin()
    with record_backward() as trace:
        y.backward()
    trace
    ```

The block is ordinary Python run in a fresh namespace; its last line is an expression
giving the trace (what ``engine.viz.record_backward`` yields).  ``engine.viz.Player``
cuts it into steps; each step becomes one inline SVG (Graphviz, now) with its caption in
the page's language.  Without JavaScript the steps read top to bottom; with it,
docs/assets/javascripts/player.js turns the figure into a player (previous/next, a
slider, play/pause, the keyboard).  The same function, :func:`player_frames`, is what
the docs tests run on every ``player`` block (docs/conftest.py).

Playing an edited program in the browser: the code under the figure gets a Run button
(docs/assets/javascripts/runner.js); run, it goes through
``runner_session.run_player`` in Pyodide, which gives
``engine.viz.Player(trace).export(lang)`` (DOT source and caption per step); the page
draws each DOT with @viz-js/viz and calls ``window.twicegradPlayer.replaceSteps(figure,
steps)``. The figure also carries its code in ``data-code``.
"""

from __future__ import annotations

import ast
import html
import re
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))
import mdblocks
from graphs import CODE_TITLE, _clean, _language, _sized
from mdblocks import use_checkout

_CACHE: dict[str, tuple] = {}
_PENDING: dict[str, str] = {}
_COUNTER = [0]

CODE_TITLE_PLAYER = {"en": "Code that was recorded", "zh": "被记录的代码"}
UI = {
    "en": {"prev": "Previous step", "next": "Next step", "play": "Play", "pause": "Pause",
           "step": "Step", "controls": "Step through the backward pass", "of": "of",
           "legend": "How to read this player",
           "keys": "Keys: ← → step, Home/End first/last, Space play/pause."},
    "zh": {"prev": "上一步", "next": "下一步", "play": "播放", "pause": "暂停",
           "step": "步骤", "controls": "逐步查看反向传播", "of": "/",
           "legend": "如何阅读这个播放器",
           "keys": "按键：← → 单步，Home/End 第一步/最后一步，空格 播放/暂停。"},
}
LEGEND = {
    "en": ["arrows point the way gradients flow: from the output down to the leaves; "
           "the number on an arrow is the gradient sent along it",
           "gold, thick border: the node running in this step; white: a node that has not run in this walk; "
           "grey: one that has; red: a node that raised",
           "blue: a leaf, with what has arrived for it and its <code>.grad</code>",
           "dashed, \"saved: FREED\": its saved values were freed (no <code>retain_graph</code>)",
           "green: a node recorded by a <code>create_graph=True</code> backward, shown once it exists"],
    "zh": ["箭头指向梯度流动的方向：从输出向下流到叶子；箭头上的数字是沿它传出的梯度",
           "金色粗边框：这一步正在运行的节点；白色：本次遍历中尚未运行的节点；灰色：已运行的节点；红色：抛出错误的节点",
           "蓝色：叶子节点，显示已到达的梯度和它的 <code>.grad</code>",
           "虚线、\"saved: FREED\"：它保存的值已被释放（没有 <code>retain_graph</code>）",
           "绿色：<code>create_graph=True</code> 的反向计算记录下的新节点，出现后才显示"],
}


def run_player_code(code: str, filename: str = "<player>"):
    """Run a ``player`` block; return the trace its last expression gives."""
    use_checkout()
    from engine.viz import Trace

    tree = ast.parse(code, filename)
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise ValueError(f"{filename}: a player block must end with an expression giving a trace")
    namespace = {"__name__": "__player__"}
    exec(compile(ast.Module(body=tree.body[:-1], type_ignores=[]), filename, "exec"), namespace)
    trace = eval(compile(ast.Expression(tree.body[-1].value), filename, "eval"), namespace)
    if not isinstance(trace, Trace):
        raise TypeError(f"{filename}: a player block must end with a trace from record_backward(), "
                        f"got {type(trace).__name__}")
    if not len(trace):
        raise ValueError(f"{filename}: the trace is empty: run a backward inside the record_backward() block")
    return trace


def player_frames(code: str, player_id: str = "player", filename: str = "<player>"):
    """``(frames, note)``: per step ``(svg, {"en": caption, "zh": caption})``; ``note``:
    what was left out past the player's cap (empty strings if nothing)."""
    key = player_id + "\0" + code
    if key not in _CACHE:
        use_checkout()
        from engine.viz import Player, render_svg

        player = Player(run_player_code(code, filename))
        frames = []
        for i, step in enumerate(player.steps):
            svg = _sized(_clean(render_svg(player.dot(i)), f"{player_id}-{i + 1}"))
            frames.append((svg, dict(step.caption)))
        _CACHE[key] = (frames, dict(player.note))
    return _CACHE[key]


def figure_html(player_id: str, code: str, frames: list, note: dict, lang: str, caption: str = "") -> str:
    """The player's figure: every step's picture and caption (readable without
    JavaScript, top to bottom), the controls player.js brings to life, a legend."""
    ui = UI[lang]
    n = len(frames)
    pid = html.escape(player_id)
    parts = [f'<figure class="tg-player" id="player-{pid}" data-player="{pid}" data-steps="{n}" '
             f'data-code="{html.escape(code)}">']
    if caption:
        parts.append(f'<figcaption class="tg-player__title">{html.escape(caption)}</figcaption>')
    parts.append(f'<div class="tg-player__controls" role="group" aria-label="{ui["controls"]}" hidden>'
                 f'<button type="button" class="tg-player__prev" aria-label="{ui["prev"]}" '
                 f'title="{ui["prev"]}">◀</button>'
                 f'<button type="button" class="tg-player__play" aria-label="{ui["play"]}" title="{ui["play"]}" '
                 f'data-play="{ui["play"]}" data-pause="{ui["pause"]}">▶</button>'
                 f'<button type="button" class="tg-player__next" aria-label="{ui["next"]}" '
                 f'title="{ui["next"]}">▶▎</button>'
                 f'<input type="range" class="tg-player__slider" min="1" max="{n}" value="1" step="1" '
                 f'aria-label="{ui["step"]}">'
                 f'<output class="tg-player__count" aria-live="off">1 {ui["of"]} {n}</output></div>')
    parts.append('<p class="tg-player__caption" aria-live="polite" hidden></p>')
    parts.append('<ol class="tg-player__steps">')
    for i, (svg, captions) in enumerate(frames, 1):
        parts.append(f'<li class="tg-player__step" data-step="{i}">'
                     f'<div class="tg-player__drawing">{svg}</div>'
                     f'<p class="tg-player__text">{html.escape(captions[lang])}</p></li>')
    parts.append("</ol>")
    if note[lang]:
        parts.append(f'<p class="tg-player__note">{html.escape(note[lang])}</p>')
    items = "".join(f"<li>{text}</li>" for text in LEGEND[lang])
    parts.append(f'<details class="tg-legend" data-legend="player"><summary>{ui["legend"]}</summary>'
                 f'<ul>{items}<li>{ui["keys"]}</li></ul></details>')
    parts.append("</figure>")
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    lang = _language(config)

    def render(block: mdblocks.Block) -> str:
        player_id = block.attrs.get("id")
        where = f"{page.file.src_uri}:{block.line}"
        if not player_id:
            raise ValueError(f"{where}: a player block needs id=\"...\"")
        frames, note = player_frames(block.source, player_id, where)
        _COUNTER[0] += 1
        token = f"TGPLAYERPLACEHOLDER{_COUNTER[0]:05d}X"
        _PENDING[token] = figure_html(player_id, block.source, frames, note, lang, block.attrs.get("caption", ""))
        return mdblocks.placeholder_then_code(token, CODE_TITLE_PLAYER[lang], block.source)

    return mdblocks.replace_blocks(markdown, "player", render)


def on_page_content(html_text, page, config, files):
    return re.sub(r"<p>(TGPLAYERPLACEHOLDER\d+X)</p>", lambda m: _PENDING.pop(m.group(1)), html_text)


__all__ = ["CODE_TITLE", "figure_html", "player_frames", "run_player_code"]

"""The Python side of the docs' Run buttons: run a page's snippets as the tests do.

The site copies this file next to the engine's files; the page's runner script
(docs/assets/javascripts/runner.js) imports it in Pyodide. It is plain CPython too, so
the test suite runs every page's blocks through it and compares with the page.

- ``Session.run_examples(examples, name)`` runs a ``pycon`` block: each ``>>>`` example
  compiled in "single" mode as doctest does (an expression's repr is echoed), in the
  page's one namespace, warnings printed as ``UserWarning: message`` (docs/conftest.py).
  It returns the transcript as a list of parts: ``("text", ">>> x\\n1.0\\n")`` and,
  for a value that draws itself (``make_dot``/``draw_dot``), ``("svg", "<svg ...")``.
- ``Session.run_code(code, name)`` runs a ``python`` block and returns what it printed.
- ``run_graph(code, name)`` runs a ``graph`` block's code in a fresh namespace and gives
  the SVG of its last expression (docs/hooks/graphs.py draws the same at build time).
- ``run_player(code, lang, name)`` runs a ``player`` block's code the same way and gives
  its trace's steps, DOT and caption each (docs/hooks/player.py draws the same at build
  time); the page draws them with viz.js and replays the player.
- ``grade(code, check)`` grades an exercise: ``code`` (the learner's) runs in a fresh
  namespace, then ``check`` (the page's grader) in the same one; an exception in
  either (an ``AssertionError`` saying what is wrong, a ``GradcheckError``...) fails it.
- ``split_transcript(text)`` turns a ``pycon`` block back into its examples' sources.

Exceptions come back as a CPython traceback, the runner's own frame left out.

- ``free_graphs_iteratively()`` (called in the browser only) frees a deep graph one node
  at a time. CPython frees a chain of objects recursively, one C call per link, and
  relies on the "trashcan" to stop before the C stack runs out; in Pyodide the wasm
  frames live on the browser's much smaller JavaScript stack, which runs out first
  (RangeError: Maximum call stack size exceeded, fatal to Pyodide) somewhere between
  3,000 and 5,000 nodes. The engine itself is unchanged.

>>> s = Session()
>>> s.run_examples(["x = 2 ** 10\\n", "x\\n", "1 / 0\\n"], "<demo>")[0][1].splitlines()[:4]
['>>> x = 2 ** 10', '>>> x', '1024', '>>> 1 / 0']
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import linecache
import re
import sys
import traceback
import warnings

__all__ = ["Session", "free_graphs_iteratively", "grade", "run_graph", "run_player", "split_transcript",
           "format_example"]

_PROMPT = re.compile(r"^(>>>|\.\.\.)( |$)")
_SUFFIX = re.compile(r" \(Triggered internally at [^)]*\.\)")


def split_transcript(text: str) -> list[str]:
    """The sources of the ``>>>`` examples in a pycon transcript; output lines dropped.

    >>> split_transcript(">>> def f():\\n...     return 1\\n>>> f()\\n1\\n")
    ['def f():\\n    return 1\\n', 'f()\\n']
    """
    examples: list[list[str]] = []
    for line in text.splitlines():
        m = _PROMPT.match(line)
        if m is None:
            continue
        body = line[m.end():]
        if m.group(1) == ">>>":
            examples.append([body])
        elif examples:
            examples[-1].append(body)
    return ["\n".join(lines).rstrip() + "\n" for lines in examples]


def format_example(source: str) -> str:
    """An example's source as the prompt shows it: ``>>> `` first, ``... `` after."""
    lines = source.rstrip("\n").split("\n")
    return "".join((">>> " if i == 0 else "... ") + line + "\n" for i, line in enumerate(lines))


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{category.__name__}: {_SUFFIX.sub('', str(message))}", file=sys.stdout)


def _svg_of(value) -> str | None:
    """The SVG of a value that draws itself (a Digraph from engine.viz), else None."""
    if hasattr(value, "source") and hasattr(value, "pipe"):
        viz = sys.modules.get("engine.viz")
        if viz is not None:
            return viz.render_svg(value)
    return None


def _traceback(exc: BaseException, skip: int = 1) -> str:
    """CPython's traceback for ``exc``, without the first ``skip`` frames (the runner's)."""
    tb = exc.__traceback__
    for _ in range(skip):
        if tb is not None:
            tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _remember(filename: str, source: str) -> None:
    """Let tracebacks quote lines of code that has no file."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


class Session:
    """One page's namespace: every block of the page runs in it, in page order."""

    def __init__(self, namespace: dict | None = None) -> None:
        self.namespace: dict = {"__name__": "__main__"} if namespace is None else namespace

    @classmethod
    def for_object(cls, dotted: str) -> Session:
        """A session for the docstring examples of ``dotted`` (``engine.Value.backward``):
        a copy of the globals of the module that defines it, as doctest runs them.

        >>> "make_dot" in Session.for_object("engine.viz.draw_dot").namespace
        True
        """
        parts = dotted.split(".")
        i = len(parts)
        while True:  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:i]))
                break
            except ImportError:
                i -= 1
                if i == 0:
                    raise
        module = obj
        for name in parts[i:]:
            obj = inspect.getattr_static(obj, name)
            module = inspect.getmodule(obj) or module  # a property has no module: its class's
        return cls(dict(vars(module)))

    def run_examples(self, examples: list[str], name: str = "<block>") -> list[tuple[str, str]]:
        parts: list[tuple[str, str]] = []
        text = io.StringIO()

        def flush() -> None:
            if text.tell():
                parts.append(("text", text.getvalue()))
                text.seek(0)
                text.truncate()

        def display(value) -> None:
            if value is None:
                return
            self.namespace["_"] = value
            svg = _svg_of(value)
            if svg is None:
                print(repr(value))
            else:
                flush()
                parts.append(("svg", svg))

        for source in examples:
            text.write(format_example(source))
            filename = name  # line numbers restart at each example, as at the prompt
            _remember(filename, source)
            saved_hook = sys.displayhook
            try:
                with contextlib.redirect_stdout(text), warnings.catch_warnings():
                    warnings.simplefilter("always")
                    warnings.showwarning = _show_warning
                    sys.displayhook = display
                    try:
                        code = compile(source, filename, "single")
                        exec(code, self.namespace)
                    except BaseException as exc:  # shown as the prompt would show it
                        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                            raise
                        text.write(_traceback(exc, skip=0 if isinstance(exc, SyntaxError) else 1))
            finally:
                sys.displayhook = saved_hook
        flush()
        return parts

    def run_code(self, code: str, name: str = "<block>") -> str:
        """Run a ``python`` block in the page's namespace; what it printed (or its traceback)."""
        return self._run(code, name)[1]

    def _run(self, code: str, name: str) -> tuple[bool, str]:
        out = io.StringIO()
        _remember(name, code)
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _show_warning
            try:
                exec(compile(code, name, "exec"), self.namespace)
            except Exception as exc:
                out.write(_traceback(exc, skip=0 if isinstance(exc, SyntaxError) else 1))
                return False, out.getvalue()
        return True, out.getvalue()


def _last_expression(code: str, name: str, kind: str, gives: str):
    """Run ``code`` in a fresh namespace and return the value of its last line, which
    must be an expression (as a ``graph`` or ``player`` block ends)."""
    tree = ast.parse(code, name)
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise ValueError(f"a {kind} block must end with an expression giving {gives}")
    namespace = {"__name__": f"__{kind}__"}
    exec(compile(ast.Module(body=tree.body[:-1], type_ignores=[]), name, "exec"), namespace)
    return eval(compile(ast.Expression(tree.body[-1].value), name, "eval"), namespace)


def run_graph(code: str, name: str = "<graph>") -> tuple[str, str]:
    """Run a ``graph`` block's code in a fresh namespace: ``("svg", svg)`` or ``("text", traceback)``."""
    _remember(name, code)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            value = _last_expression(code, name, "graph", "a drawing (make_dot or draw_dot)")
            svg = _svg_of(value)
            if svg is None:
                raise TypeError(f"the last line must give a drawing (make_dot or draw_dot), got {type(value).__name__}")
        return "svg", svg
    except Exception as exc:
        return "text", out.getvalue() + _traceback(exc, skip=0 if isinstance(exc, SyntaxError) else 2)


def run_player(code: str, lang: str = "en", name: str = "<player>") -> tuple[str, object]:
    """Run a ``player`` block's code in a fresh namespace and cut its trace into steps:
    ``("steps", [{"dot": ..., "caption": ...}, ...])`` (``engine.viz.Player.export``: the
    page draws each DOT and replays the player), or ``("text", traceback)``.

    >>> kind, steps = run_player("from engine import Value\\n"
    ...     "from engine.viz import record_backward\\n"
    ...     "x = Value(2.0, requires_grad=True, name='x')\\n"
    ...     "with record_backward() as trace:\\n"
    ...     "    (x * x).backward()\\n"
    ...     "trace\\n")
    >>> kind, len(steps), steps[0]["caption"]
    ('steps', 3, 'The walk starts: MulBackward0 gets the gradient 1.0.')
    """
    from engine.viz import Player, Trace

    _remember(name, code)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            trace = _last_expression(code, name, "player", "a trace (from record_backward())")
            if not isinstance(trace, Trace):
                raise TypeError(f"the last line must give a trace from record_backward(), got {type(trace).__name__}")
            if not len(trace):
                raise ValueError("the trace is empty: run a backward inside the record_backward() block")
            return "steps", Player(trace).export(lang)
    except Exception as exc:
        return "text", out.getvalue() + _traceback(exc, skip=0 if isinstance(exc, SyntaxError) else 2)


def grade(code: str, check: str, name: str = "<exercise>") -> tuple[bool, str]:
    """``(passed, what to show)`` for an exercise answer ``code`` and its grader ``check``.

    >>> grade("answer = 6 * 7", "assert answer == 42, f'{answer} is not 42'")
    (True, '')
    >>> grade("answer = 6 * 9", "assert answer == 42, f'{answer} is not 42'")
    (False, 'AssertionError: 54 is not 42')
    """
    session = Session()
    ran, printed = session._run(code, name)
    if not ran:
        return False, printed
    _remember("<check>", check)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exec(compile(check, "<check>", "exec"), session.namespace)
        except Exception as exc:  # any failure of the grader is a wrong answer
            return False, printed + "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return True, printed + out.getvalue()


def free_graphs_iteratively() -> None:
    """Make a dying graph node hand its references to a queue drained in a loop.

    Called once by the page after importing the engine. A node's ``__del__`` moves
    what it holds (edges, saved values, a custom Function's attributes) into a list;
    the outermost ``__del__`` pops that list until it is empty, so freeing a chain of a
    million nodes takes a million iterations and a constant stack. It changes
    ``engine.value.Node`` for the whole process, so the test suite calls it in a
    process of its own (tests/test_runner_browser.py).
    """
    from engine.value import Node

    if getattr(Node, "_tg_frees_iteratively", False):
        return
    slots = tuple(dict.fromkeys(name for cls in Node.__mro__ for name in getattr(cls, "__slots__", ())))
    pending: list = []
    draining = [False]

    def __del__(self) -> None:
        for name in slots + ("_edges",):
            try:
                value = object.__getattribute__(self, name)
            except AttributeError:
                continue
            if value is not None:
                pending.append(value)
                with contextlib.suppress(AttributeError, TypeError):
                    object.__setattr__(self, name, None)
        attrs = getattr(self, "__dict__", None)
        if attrs:
            pending.extend(attrs.values())
            attrs.clear()
        if draining[0]:
            return
        draining[0] = True
        try:
            while pending:
                pending.pop()  # the last reference to a node: its __del__ only queues
        finally:
            draining[0] = False

    Node.__del__ = __del__
    Node._tg_frees_iteratively = True

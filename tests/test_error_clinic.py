"""Every message the engine can raise or warn has its entry in the Error clinic, in both languages.

The messages are read from engine/*.py's syntax trees, not from a list kept by hand:
the first argument of every ``raise SomeError(...)`` and of every ``warnings.warn(...)``,
followed through module constants (``FREED_MESSAGE``), local names, ``+`` and implicit
concatenation, and a function parameter back to the string literals its callers pass
(``int_message`` in ``Value._set_requires_grad``). An f-string becomes a pattern whose
``{fields}`` match any text. A site the scanner cannot resolve fails the test, so a new
way of building a message cannot slip past it.

"Has an entry" means more than "is mentioned": the message must appear in the expected
output of a ``pycon`` example that runs the engine (docs/conftest.py runs every one and
checks the output), so the page shows a program that really triggers it, on the English
page and on the Chinese one.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "engine"
PAGES = [ROOT / "docs" / "error-clinic.md", ROOT / "docs" / "error-clinic.zh.md"]
sys.path.append(str(ROOT / "docs" / "hooks"))  # appended: never shadows an installed module
import mdblocks  # noqa: E402

FIELD = object()  # stands for the text of an f-string's {field}: any text on one line
LINES = object()  # stands for text joined from a list (a traceback): any lines


@dataclass(frozen=True)
class Message:
    parts: tuple   # literal strings and FIELD
    site: str      # file:line

    @property
    def text(self) -> str:
        return "".join("{…}" if p is FIELD else "{lines…}" if p is LINES else p for p in self.parts)

    def pattern(self) -> re.Pattern:
        out = []
        for p in self.parts:
            if p is FIELD:
                out.append(r"[^\n]*?")
            elif p is LINES:
                out.append(r"(?:.|\n)*?")
            else:
                out.extend(r"\s+" if w.isspace() else re.escape(w) for w in re.split(r"(\s+)", p) if w)
        return re.compile("".join(out))


class Unresolved(Exception):
    pass


def _functions(tree: ast.AST) -> dict:
    """Function name -> its FunctionDef nodes, for following a parameter to its callers."""
    out: dict[str, list] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.setdefault(node.name, []).append(node)
    return out


def _enclosing(tree: ast.AST, target: ast.AST):
    """The innermost function definition holding ``target``, or None."""
    best = None
    for node in ast.walk(tree):
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and any(n is target for n in ast.walk(node))
                and (best is None or any(n is node for n in ast.walk(best)))):
            best = node
    return best


def _callers_args(tree: ast.AST, func: ast.FunctionDef, param: str) -> list[ast.AST]:
    """The expressions passed as ``param`` at every call of ``func`` in the module."""
    names = [a.arg for a in func.args.args]
    index = names.index(param)
    found = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        callee = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
        if callee != func.name:
            continue
        pos = index - 1 if (isinstance(call.func, ast.Attribute) and names and names[0] in ("self", "cls")) else index
        for kw in call.keywords:
            if kw.arg == param:
                found.append(kw.value)
        if pos < len(call.args):
            found.append(call.args[pos])
    return found


def _templates(expr: ast.AST, tree: ast.AST, modules: dict, site: str) -> list[tuple]:
    """Every message ``expr`` can evaluate to, as tuples of literal strings and FIELD."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [(expr.value,)]
    if isinstance(expr, ast.JoinedStr):
        parts = []
        for v in expr.values:
            parts.append(v.value if isinstance(v, ast.Constant) else FIELD)
        return [tuple(parts)]
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return [a + b for a in _templates(expr.left, tree, modules, site)
                for b in _templates(expr.right, tree, modules, site)]
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "join":
        return [(LINES,)]  # "".join(traceback lines): text that depends on the user's program
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "format":
        return _formatted(expr, tree, modules, site)
    if isinstance(expr, ast.Name):
        func = _enclosing(tree, expr)
        if func is not None:
            local = [n.value for n in ast.walk(func) if isinstance(n, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == expr.id for t in n.targets)]
            if local:
                return [t for v in local for t in _templates(v, tree, modules, site)]
            if expr.id in [a.arg for a in func.args.args]:
                passed = _callers_args(tree, func, expr.id)
                if passed:
                    return [t for v in passed for t in _templates(v, tree, modules, site)]
        for module_tree in [tree, *modules.values()]:  # a module constant, here or imported
            for node in module_tree.body:
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == expr.id
                                                        for t in node.targets):
                    return _templates(node.value, module_tree, modules, site)
    raise Unresolved(f"{site}: cannot tell what message {ast.unparse(expr)!r} is")


def _formatted(call: ast.Call, tree: ast.AST, modules: dict, site: str) -> list[tuple]:
    """``template.format(...)``: each ``{field}`` of the template's literal text becomes what
    the call passes for it (followed like any message), or FIELD when that is not a string
    the scanner can read (a number, a user's name). ``{{`` and ``}}`` become braces."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        raise Unresolved(f"{site}: cannot tell what message {ast.unparse(call)!r} is (*args or **kwargs)")
    by_name = {k.arg: k.value for k in call.keywords}
    out = []
    for template in _templates(call.func.value, tree, modules, site):
        results = [()]
        auto = 0
        for part in template:
            if part is FIELD or part is LINES:
                results = [r + (part,) for r in results]
                continue
            for literal, field, spec, conversion in string.Formatter().parse(part):
                if literal:
                    results = [r + (literal,) for r in results]
                if field is None:
                    continue
                name, rest = re.match(r"([^.\[]*)(.*)", field).groups()
                if name == "":
                    name, auto = str(auto), auto + 1  # "{}": the next positional argument
                arg = call.args[int(name)] if name.isdigit() and int(name) < len(call.args) else by_name.get(name)
                if arg is None:
                    raise Unresolved(f"{site}: {ast.unparse(call)!r} passes nothing for {{{field}}}")
                values = [(FIELD,)]  # an attribute, item, !r or format spec of it: any text on a line
                if not rest and not conversion and not spec:
                    # (a number or a name from the user's program stays "any text on a line")
                    with contextlib.suppress(Unresolved):
                        values = _templates(arg, tree, modules, site)
                results = [r + v for r in results for v in values]
        out.extend(_merged(r) for r in results)
    return out


def _merged(parts: tuple) -> tuple:
    """Adjacent literal strings joined into one."""
    out: list = []
    for p in parts:
        if out and isinstance(p, str) and isinstance(out[-1], str):
            out[-1] += p
        else:
            out.append(p)
    return tuple(out)


def _is_warn(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr == "warn") or (isinstance(f, ast.Name) and f.id == "warn")


def engine_messages() -> list[Message]:
    modules = {p.name: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(ENGINE.glob("*.py"))}
    messages, problems = [], []
    for name, tree in modules.items():
        for node in ast.walk(tree):
            site = f"engine/{name}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Raise):
                if node.exc is None:
                    continue  # a bare re-raise passes on someone else's message
                if not isinstance(node.exc, ast.Call):
                    if isinstance(node.exc, ast.Name) and node.exc.id.endswith("Error"):
                        continue  # `raise NotImplementedError` in an abstract method: no message
                    problems.append(f"{site}: raises {ast.unparse(node.exc)!r}, not a call with a message")
                    continue
                args = node.exc.args
                if not args:
                    problems.append(f"{site}: {ast.unparse(node.exc)} has no message")
                    continue
                expr = args[0]
            elif isinstance(node, ast.Call) and _is_warn(node) and node.args:
                expr = node.args[0]
            else:
                continue
            try:
                for parts in _templates(expr, tree, modules, site):
                    messages.append(Message(tuple(parts), site))
            except Unresolved as exc:
                problems.append(str(exc))
    assert not problems, "\n".join(problems)
    unique = {}
    for m in messages:
        unique.setdefault(m.parts, m)
    return list(unique.values())


def engine_outputs(page: Path) -> str:
    """The expected output of every >>> example of the page that runs the engine."""
    parser = doctest.DocTestParser()
    text = page.read_text(encoding="utf-8")
    return "\n".join(ex.want for b in mdblocks.iter_blocks(text)
                     if b.language == "pycon" and mdblocks.namespace_of(b) == "engine"
                     for ex in parser.get_examples(b.source))


def reachable() -> list[Message]:
    """Every message in engine/: each one a user program can reach."""
    return engine_messages()


def test_the_scanner_finds_messages_of_every_kind():
    texts = {m.text for m in engine_messages()}
    assert len(texts) >= 50
    assert any(t.startswith("Trying to backward through the graph a second time") for t in texts)  # a constant
    assert "element {…} of values does not require grad and does not have a grad_fn" in texts  # an f-string
    assert "only Values of floating point dtype can require gradients" in texts  # a parameter, via its caller
    assert any(t.startswith("Using backward() with create_graph=True") for t in texts)  # a warning
    assert any(t.startswith("register_hook on an intermediate Value is not supported") for t in texts)  # .format


def test_a_pattern_matches_its_message_and_no_other():
    m = Message(("element ", FIELD, " of values does not require grad"), "x")
    assert m.pattern().search("RuntimeError: element 1 of values does not\n require grad")
    assert not m.pattern().search("RuntimeError: element 1 of values requires grad")


def test_the_scanner_fails_on_what_it_cannot_read():
    tree = ast.parse("def f():\n    raise RuntimeError(make_message())\n")
    expr = tree.body[0].body[0].exc.args[0]
    with pytest.raises(Unresolved):
        _templates(expr, tree, {}, "here")


def test_the_scanner_reads_str_format():
    tree = ast.parse(
        "TEMPLATE = '{what} failed: {{braces}} {0} of {n:d} ({kind!r})'\n"
        "def f(n, kind):\n"
        "    raise RuntimeError(TEMPLATE.format('step', what='hook', n=n, kind=kind))\n")
    expr = tree.body[1].body[0].exc.args[0]
    assert _templates(expr, tree, {}, "here") == [
        ("hook failed: {braces} step of ", FIELD, " (", FIELD, ")")]
    missing = ast.parse("T = '{what}'\nraise RuntimeError(T.format(where='x'))\n")
    with pytest.raises(Unresolved):
        _templates(missing.body[1].exc.args[0], missing, {}, "here")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_engine_message_has_an_entry_that_triggers_it(page):
    shown = engine_outputs(page)
    missing = [f"{m.site}: {m.text}" for m in reachable() if not m.pattern().search(shown)]
    assert not missing, f"{page.name} has no example whose output shows:\n" + "\n".join(missing)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_heading_has_an_english_anchor(page):
    headings = [line for line in page.read_text(encoding="utf-8").splitlines()
                if re.match(r"#{2,4} ", line)]
    assert headings
    bad = [h for h in headings if not re.search(r"\{ #[a-z0-9-]+ \}$", h)]
    assert not bad, bad


def test_both_languages_have_the_same_anchors():
    anchors = [re.findall(r"\{ #([a-z0-9-]+) \}", p.read_text(encoding="utf-8")) for p in PAGES]
    assert anchors[0] == anchors[1]

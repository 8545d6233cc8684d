"""Shared machinery for the differential tests of the core engine against torch.

Every ``tests/test_core_*.py`` test writes a program *once*, against a small
"backend" object ``B``, and the ``differ`` fixture runs it twice: on torch (0-dim
float64 tensors, the oracle) and on the engine.  The program records what it sees
with ``rec(label, thing)``; each record is normalised into plain Python data
(numbers, None, node names, exception type + message, warnings) and the two record
lists must be equal.  Expectations therefore always come from torch at test time,
never from the engine's own output.

torch is required: if it is missing this file fails loudly (no test may skip).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
import warnings
from types import SimpleNamespace

import pytest

try:
    import torch
except ImportError as exc:  # never skip: the differential tests are the point
    raise ImportError(
        "The core engine tests compare against PyTorch and need torch==2.13.0 "
        "(CPU): install the test extra, `pip install -e '.[test]'`."
    ) from exc

import engine
from engine import Value

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------------
# Messages: torch's text with Tensor/tensor/Variable/variable -> Value/value
# ---------------------------------------------------------------------------------

_TRIGGERED = re.compile(r" \(Triggered internally at [^)]*\.\)")


def as_value_message(torch_message: str) -> str:
    """torch's message as the engine must print it (CONTRACT: the oracle)."""
    msg = _TRIGGERED.sub("", str(torch_message))
    for old, new in (("Tensor", "Value"), ("tensor", "value"), ("Variable", "Value"), ("variable", "value")):
        msg = msg.replace(old, new)
    return msg


# ---------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------

def same_float(a, b, rel: float = 0.0, abs_: float = 0.0) -> bool:
    """Equal as IEEE doubles: nan == nan, infinities of the same sign, else within tolerance."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return a == b or abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


def same(a, b, rel: float = 0.0, abs_: float = 0.0) -> bool:
    """Structural equality of normalised records, floats compared by ``same_float``."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return same_float(a, b, rel, abs_)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rel, abs_) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rel, abs_) for k in a)
    return a == b


# ---------------------------------------------------------------------------------
# The two backends: the same names on torch and on the engine
# ---------------------------------------------------------------------------------

class TorchBackend:
    """torch, 0-dim float64 tensors."""

    name = "torch"
    lib = torch
    Error = (RuntimeError, TypeError, ValueError, NotImplementedError)
    grad = staticmethod(torch.autograd.grad)
    backward = staticmethod(torch.autograd.backward)
    no_grad = torch.no_grad
    enable_grad = torch.enable_grad
    set_grad_enabled = torch.set_grad_enabled
    is_grad_enabled = staticmethod(torch.is_grad_enabled)

    @staticmethod
    def is_value(x) -> bool:
        return isinstance(x, torch.Tensor)

    @staticmethod
    def leaf(v, requires_grad: bool = True):
        """A leaf float64 scalar (requires grad by default)."""
        return torch.tensor(float(v), dtype=torch.float64, requires_grad=requires_grad)

    @staticmethod
    def const(v):
        """A scalar that does not require grad (int data stays int64)."""
        return torch.tensor(v, dtype=torch.float64 if isinstance(v, float) else None)

    @staticmethod
    def new(v, requires_grad: bool = False):
        """``torch.tensor(v, requires_grad=...)`` / ``Value(v, requires_grad=...)``."""
        return torch.tensor(v, dtype=torch.float64 if isinstance(v, float) else None, requires_grad=requires_grad)

    @staticmethod
    def seed(v):
        """A gradient seed: torch needs a tensor (the engine also takes plain numbers)."""
        return None if v is None else torch.tensor(float(v), dtype=torch.float64)

    @staticmethod
    def node_name(n):
        return None if n is None else type(n).__name__


class EngineBackend:
    """The engine under test."""

    name = "engine"
    lib = engine
    Error = (RuntimeError, TypeError, ValueError, NotImplementedError)
    grad = staticmethod(engine.grad)
    backward = staticmethod(engine.backward)
    no_grad = engine.no_grad
    enable_grad = engine.enable_grad
    set_grad_enabled = engine.set_grad_enabled
    is_grad_enabled = staticmethod(engine.is_grad_enabled)

    @staticmethod
    def is_value(x) -> bool:
        return isinstance(x, Value)

    @staticmethod
    def leaf(v, requires_grad: bool = True):
        return Value(float(v), requires_grad=requires_grad)

    @staticmethod
    def const(v):
        return Value(v)

    @staticmethod
    def new(v, requires_grad: bool = False):
        return Value(v, requires_grad=requires_grad)

    @staticmethod
    def seed(v):
        return None if v is None else Value(float(v))

    @staticmethod
    def node_name(n):
        return None if n is None else type(n).__name__


BACKENDS = (TorchBackend, EngineBackend)


# ---------------------------------------------------------------------------------
# Recording what a program sees
# ---------------------------------------------------------------------------------

ANY_NODE = "<some node>"


class Recorder:
    """``rec(label, x)`` stores ``x`` normalised; see ``norm`` for what is kept."""

    def __init__(self, B, node_names: bool = True):
        self.B = B
        self.node_names = node_names
        self.records = []

    # -- normalisation ----------------------------------------------------------------
    def node(self, n):
        if n is None:
            return None
        return self.B.node_name(n) if self.node_names else ANY_NODE

    def norm(self, x, node_names=None):
        """Plain data for ``x``: a Value/tensor becomes
        ``("V", number, requires_grad, is_leaf, grad_fn name)``."""
        keep = self.node_names if node_names is None else node_names
        B = self.B
        if B.is_value(x):
            name = B.node_name(x.grad_fn) if keep else (None if x.grad_fn is None else ANY_NODE)
            return ("V", x.item(), x.requires_grad, x.is_leaf, name)
        if isinstance(x, (list, tuple)):
            return [self.norm(v, node_names) for v in x]
        if isinstance(x, dict):
            return {k: self.norm(v, node_names) for k, v in x.items()}
        if isinstance(x, BaseException):
            return ("E", type(x).__name__, as_value_message(x) if B is TorchBackend else str(x))
        return x

    def __call__(self, label, x=None, node_names=None):
        self.records.append((label, self.norm(x, node_names)))
        return x

    # -- helpers that record ------------------------------------------------------------
    def raises(self, label, fn, message: bool = True):
        """Run ``fn``; record its exception (type and message), or its result."""
        try:
            r = fn()
        except Exception as e:  # noqa: BLE001 - the type is what we compare
            self.records.append((label, self.norm(e) if message else ("E", type(e).__name__)))
            return None
        self.records.append((label, ("no error", self.norm(r))))
        return r

    def warns(self, label, fn):
        """Run ``fn`` with every warning shown; record (category, message) of each."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = fn()
        msgs = [(w.category.__name__, as_value_message(str(w.message)) if self.B is TorchBackend else str(w.message))
                for w in caught]
        self.records.append((label, msgs))
        return r

    def edges(self, label, x):
        """Record ``x.grad_fn.next_functions`` as [(node name or None, index)]."""
        n = x.grad_fn if self.B.is_value(x) else x
        self.records.append((label, [(self.node(m), i) for m, i in n.next_functions]))

    def grad_of(self, label, x):
        """Record ``x.grad`` with the non-leaf warning silenced (checked elsewhere)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = x.grad
        self.records.append((label, self.norm(g)))
        return g


def run_both(prog, node_names: bool = True, **kw):
    """Run ``prog(B, rec)`` on torch then on the engine; return both record lists."""
    out = []
    for B in BACKENDS:
        rec = Recorder(B, node_names=node_names)
        prog(B, rec, **kw)
        out.append(rec.records)
    return out


def describe_diff(t, e) -> str:
    lines = []
    for i in range(max(len(t), len(e))):
        a = t[i] if i < len(t) else "<missing>"
        b = e[i] if i < len(e) else "<missing>"
        mark = "   " if same(a, b) else ">>>"
        lines.append(f"{mark} torch : {a!r}\n{mark} engine: {b!r}")
    return "\n".join(lines)


def check(prog, node_names: bool = True, rel: float = 1e-12, abs_: float = 0.0, **kw):
    """Assert that ``prog`` records the same things on torch and on the engine.

    Numbers are compared to ``rel`` (torch's float64 kernels are not always correctly
    rounded: its ``sqrt(2.0)`` is one ulp below Python's); nan, inf and signs exactly."""
    t, e = run_both(prog, node_names=node_names, **kw)
    assert t, "the program recorded nothing"
    assert same(t, e, rel, abs_), "torch and engine differ:\n" + describe_diff(t, e)
    return t


# ---------------------------------------------------------------------------------
# Subprocesses: for process-global state and for crashes (deep graphs)
# ---------------------------------------------------------------------------------

def run_python(code: str, timeout: float = 60.0) -> str:
    """Run ``code`` in a fresh interpreter (the repo on sys.path); return its stdout.

    Fails the test (never hangs it) on a non-zero exit, a crash or a timeout."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                           timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"subprocess timed out after {timeout} s")
    if p.returncode != 0:
        pytest.fail(f"subprocess exited with {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")
    return p.stdout


# ---------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------

@pytest.fixture
def differ():
    """The differential-testing toolkit (``differ.check(prog)`` and friends)."""
    return SimpleNamespace(
        check=check, run_both=run_both, same=same, same_float=same_float, torch=torch, engine=engine,
        Value=Value, as_value_message=as_value_message, run_python=run_python, T=TorchBackend,
        E=EngineBackend, BACKENDS=BACKENDS, describe_diff=describe_diff, ANY_NODE=ANY_NODE,
    )


@pytest.fixture(autouse=True)
def _grad_mode_restored(request):
    """Every core test starts and ends with grad mode on in both libraries."""
    if not request.node.module.__name__.startswith("test_core"):
        yield
        return
    assert torch.is_grad_enabled() and engine.is_grad_enabled()
    yield
    ok = torch.is_grad_enabled() and engine.is_grad_enabled()
    torch.set_grad_enabled(True)
    engine.set_grad_enabled(True)
    assert ok, "a test left grad mode off"

"""The differential-testing harness: one program, run on torch and on the engine.

A test writes its program *once*, against a small "backend" object ``B`` (``B.leaf``,
``B.grad``, ``B.Function``, ...), and the harness runs it on torch (0-dim float64 tensors,
the oracle) and on the engine.  What the program sees is normalised into plain Python
data (numbers, None, node names, exception type + message, warnings) and the two must be
equal, so expectations always come from torch at test time, never from the engine's
own output.  Two ways to write a program, one normalisation:

- ``prog(B, rec)`` records as it goes, ``rec(label, thing)``; ``check(prog)`` compares
  the two record lists (the ``differ`` fixture of tests/conftest.py hands these out);
- ``case(B)`` returns what it saw, built with ``B.observe(x)`` and ``B.outcome(fn)``;
  ``same_on_both(case)`` compares the two results and returns torch's.

Numbers compare to the tolerance the call states (``rel``, default 1e-12: torch's
float64 kernels are not always correctly rounded, and which inputs they round
differently depends on the processor); nan, infinities and signs compare exactly.

torch is required: if it is missing, importing this module fails loudly (no test may
skip).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
import warnings

import pytest

try:
    import torch
    from torch.autograd.function import once_differentiable as _torch_once_differentiable
    from torch.autograd.gradcheck import GradcheckError as _TorchGradcheckError
except ImportError as exc:  # never skip: the differential tests are the point
    raise ImportError(
        "The differential tests compare against PyTorch and need torch==2.13.0 "
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


_GRADCHECK_NUMBER = re.compile(r"(numerical|analytical):([-+0-9.eEinfa]+)$", re.M)


def engine_message(text: str) -> str:
    """The engine's message, comparable with ``as_value_message`` of torch's.

    The one deliberate difference: a gradcheck failure prints each Jacobian entry as a
    Python float, where torch prints a 1x1 float64 tensor; the engine's numbers are
    rendered torch's way (then spelt "value") so the two texts compare exactly."""
    def as_torch(m):
        return f"{m.group(1)}:" + as_value_message(str(torch.tensor([[float(m.group(2))]], dtype=torch.float64)))
    return _GRADCHECK_NUMBER.sub(as_torch, str(text))


def message_of(B, error) -> str:
    """The normalised text of an exception or warning message raised on backend ``B``."""
    return as_value_message(str(error)) if B is TorchBackend else engine_message(str(error))


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
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y, rel, abs_) for x, y in zip(a, b))
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

    # custom Functions and the numerical checks
    Function = torch.autograd.Function
    once_differentiable = staticmethod(_torch_once_differentiable)
    gradcheck = staticmethod(torch.autograd.gradcheck)
    gradgradcheck = staticmethod(torch.autograd.gradgradcheck)
    GradcheckError = _TorchGradcheckError

    @staticmethod
    def tensor(v, requires_grad: bool = False):
        """A float64 scalar (``Value(float(v))`` on the engine)."""
        return torch.tensor(v, dtype=torch.float64, requires_grad=requires_grad)

    @classmethod
    def observe(cls, x):
        """``x`` as comparable plain data (see ``normalise``)."""
        return normalise(cls, x)

    @classmethod
    def outcome(cls, fn):
        """``observe(fn())``, or the exception ``fn`` raised as ("E", type name, message).

        NameError, AttributeError and AssertionError propagate: they are bugs of the
        test program, not behaviours to compare."""
        return outcome(cls, fn)


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

    Function = engine.Function
    once_differentiable = staticmethod(engine.once_differentiable)
    gradcheck = staticmethod(engine.gradcheck)
    gradgradcheck = staticmethod(engine.gradgradcheck)
    GradcheckError = engine.GradcheckError

    @staticmethod
    def tensor(v, requires_grad: bool = False):
        return Value(float(v), requires_grad=requires_grad)

    observe = classmethod(TorchBackend.observe.__func__)
    outcome = classmethod(TorchBackend.outcome.__func__)


BACKENDS = (TorchBackend, EngineBackend)


# ---------------------------------------------------------------------------------
# Recording what a program sees
# ---------------------------------------------------------------------------------

ANY_NODE = "<some node>"


def normalise(B, x, node_names: bool = True):
    """Plain data for what backend ``B`` produced: a Value/tensor becomes
    ``("V", number, requires_grad, is_leaf, grad_fn name)``, an exception
    ``("E", type name, message_of(B, x))``; lists, tuples and dicts recursively."""
    if B.is_value(x):
        name = B.node_name(x.grad_fn) if node_names else (None if x.grad_fn is None else ANY_NODE)
        return ("V", x.item(), x.requires_grad, x.is_leaf, name)
    if isinstance(x, (list, tuple)):  # the container's type is kept: a tuple is not a list
        return type(x)(normalise(B, v, node_names) for v in x) if type(x) in (list, tuple) \
            else [normalise(B, v, node_names) for v in x]
    if isinstance(x, dict):
        return {k: normalise(B, v, node_names) for k, v in x.items()}
    if isinstance(x, BaseException):
        return ("E", type(x).__name__, message_of(B, x))
    return x


def outcome(B, fn, node_names: bool = True):
    """``normalise(B, fn())``, or the exception ``fn`` raised, normalised.

    NameError, AttributeError and AssertionError propagate: they are bugs of the test
    program, not behaviours to compare."""
    try:
        return normalise(B, fn(), node_names)
    except (NameError, AttributeError, AssertionError):
        raise
    except Exception as e:  # the type and message are what we compare
        return normalise(B, e, node_names)


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
        """Plain data for ``x`` (``normalise``)."""
        return normalise(self.B, x, self.node_names if node_names is None else node_names)

    def __call__(self, label, x=None, node_names=None):
        self.records.append((label, self.norm(x, node_names)))
        return x

    # -- helpers that record ------------------------------------------------------------
    def raises(self, label, fn, message: bool = True):
        """Run ``fn``; record its exception (type and message), or its result."""
        try:
            r = fn()
        except Exception as e:  # the type is what we compare
            self.records.append((label, self.norm(e) if message else ("E", type(e).__name__)))
            return None
        self.records.append((label, ("no error", self.norm(r))))
        return r

    def warns(self, label, fn):
        """Run ``fn`` with every warning shown; record (category, message) of each."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = fn()
        msgs = [(w.category.__name__, message_of(self.B, w.message)) for w in caught]
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
    rounded, and where they are not depends on the processor); nan, inf and signs
    exactly."""
    t, e = run_both(prog, node_names=node_names, **kw)
    assert t, "the program recorded nothing"
    assert same(t, e, rel, abs_), "torch and engine differ:\n" + describe_diff(t, e)
    return t


def same_on_both(case, rel: float = 1e-12, abs_: float = 0.0):
    """Assert that ``case(B)`` returns the same on torch and on the engine (numbers to
    ``rel``, as ``check``); return torch's result.  ``case`` builds its result with
    ``B.observe`` and ``B.outcome``; whatever else it returns is normalised too."""
    t = normalise(TorchBackend, case(TorchBackend))
    e = normalise(EngineBackend, case(EngineBackend))
    assert t is not None, "the case returned nothing"
    if not same(t, e, rel, abs_):
        pairs = list(zip(t, e)) if isinstance(t, list) and isinstance(e, list) and len(t) == len(e) else [(t, e)]
        raise AssertionError("torch and engine differ:\n" + describe_diff([a for a, _ in pairs], [b for _, b in pairs]))
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



"""Checks: compare gradients with finite differences, and catch nan in backward.

``gradcheck(func, inputs)`` answers "is my backward right?": for each input that
requires grad it nudges the number by ``±eps``, measures how every output moves
(central differences), and compares that *numerical* derivative with the
*analytical* one that ``engine.grad`` computes.  The pass rule is torch's:
``|analytical - numerical| <= atol + rtol * |numerical|``.  ``gradgradcheck`` runs
the same check on the gradient itself, so it tests double backward.

``detect_anomaly()`` makes a backward that produces nan stop with an error naming
the op, after a warning that shows the line of *your* code that created it.

>>> from engine import Value, gradcheck, gradgradcheck
>>> x = Value(0.7, requires_grad=True)
>>> gradcheck(lambda a: a.tanh() * a, x), gradgradcheck(lambda a: a.tanh() * a, x)
(True, True)
"""

from __future__ import annotations

import functools
import random
import warnings
from typing import Callable, Sequence, Union

from . import anomaly as _anomaly
from .autograd import grad
from .function import Function
from .value import Value

__all__ = [
    "gradcheck", "gradgradcheck", "GradcheckError",
    "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled",
]

Values = Union[Value, Sequence[Value]]


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` and ``gradgradcheck`` when a check fails.

    >>> issubclass(GradcheckError, RuntimeError)
    True
    """


# ---------------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------------

def gradcheck(func: Callable[..., Values], inputs: Values, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check ``func``'s gradients against central finite differences.

    ``inputs`` is a Value or a tuple/list of arguments; every Value in it with
    ``requires_grad=True`` is checked, the other arguments are passed through
    unchanged.  ``func`` returns a Value or a tuple/list of Values.  For output
    ``i`` and checked input ``j`` the numerical derivative
    ``(f(x + eps) - f(x - eps)) / (2 * eps)`` must be close to the analytical one
    (``|a - n| <= atol + rtol * |n|``).  Then, as in torch: backward must be
    reproducible, a zero ``grad_output`` must give zero gradients, and outputs
    that do not require grad must not depend on the inputs.

    On failure raises ``GradcheckError`` (or returns ``False`` when
    ``raise_exception=False``); its message names the output and the input
    (counting only those that require grad, as torch does) and shows both
    numbers as Python floats, in full precision, where torch prints 1x1 tensors
    rounded to 4 decimals.  Inputs are perturbed by assigning ``.data`` and
    restored afterwards, even if ``func`` raises.

    >>> from engine import Function, Value, gradcheck
    >>> class Wrong(Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 2
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         x, = ctx.saved_tensors
    ...         return g * 3 * x         # should be 2 * x
    >>> x = Value(0.7, requires_grad=True)
    >>> gradcheck(Wrong.apply, x, raise_exception=False)
    False
    >>> gradcheck(lambda a: a ** 2, x)
    True
    """
    try:
        return _gradcheck(func, _as_tuple(inputs), eps, atol, rtol)
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _gradcheck(func, inputs: tuple, eps: float, atol: float, rtol: float) -> bool:
    checked = [a for a in inputs if a.__class__ is Value and a.requires_grad]
    if not checked:
        raise ValueError(
            "gradcheck expects at least one input value to require gradient, "
            "but none of them have requires_grad=True."
        )
    func_out = _outputs(func(*inputs))
    outputs = [o for o in func_out if o.requires_grad]
    numerical = [_numerical_column(func, inputs, x, eps) for x in checked]  # [input][output]

    if not outputs:
        for column in numerical:
            for n in column:
                if n != 0:  # nan != 0 too
                    raise GradcheckError("Numerical gradient for function expected to be zero")
        return True

    differentiable = [i for i, o in enumerate(func_out) if o.requires_grad]
    for i, out in enumerate(outputs):
        analytical = _analytical_row(out, checked)
        for j, (a, column) in enumerate(zip(analytical, numerical)):
            n = column[differentiable[i]]
            if not _isclose(a, n, rtol, atol):
                raise GradcheckError(
                    f"Jacobian mismatch for output {i} with respect to input {j},\n"
                    f"numerical:{n!r}\nanalytical:{a!r}\n"
                )

    _check_backward_multiplies_grad_output(outputs, checked)
    _check_undefined_grad(func, inputs, checked)
    return True


def _as_tuple(x) -> tuple:
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _outputs(out) -> tuple:
    outs = _as_tuple(out)
    for o in outs:
        if o.__class__ is not Value:
            raise TypeError(
                f"gradcheck expects the function to return a Value or a tuple of Values, "
                f"but it returned an element of type {type(o).__name__}"
            )
    return outs


def _numerical_column(func, inputs: tuple, x: Value, eps: float) -> list:
    """d(output_k)/dx for every output k, by central differences."""
    orig = x.data
    try:
        x.data = orig - eps
        before = [o.data for o in _outputs(func(*inputs))]
        x.data = orig + eps
        after = [o.data for o in _outputs(func(*inputs))]
    finally:
        x.data = orig
    return [(b - a) / (2 * eps) for a, b in zip(before, after)]


def _analytical_row(out: Value, checked: list) -> list:
    """d(out)/dx for every checked x, computed twice: backward must be reproducible."""
    first = _vjp(out, checked)
    second = _vjp(out, checked)
    for a, b in zip(first, second):
        if abs(a - b) > 0.0:  # torch's nondet_tol=0.0 (nan compares as equal, as there)
            raise GradcheckError(
                "Backward is not reentrant, i.e., running backward with same input and "
                "grad_output multiple times gives different values, although analytical "
                "gradient matches numerical gradient.The tolerance for nondeterminism was 0.0."
            )
    return first


def _vjp(out: Value, checked: list) -> list:
    grads = grad(out, checked, 1.0, retain_graph=True, allow_unused=True)
    return [0.0 if g is None else g.data for g in grads]


def _isclose(a: float, n: float, rtol: float, atol: float) -> bool:
    """torch.isclose(a, n, rtol, atol): equal infinities match, nan never does."""
    if a == n:
        return True
    finite = abs(a) != float("inf") and abs(n) != float("inf") and a == a and n == n
    return finite and abs(a - n) <= atol + rtol * abs(n)


def _check_backward_multiplies_grad_output(outputs: list, checked: list) -> None:
    grads = grad(outputs, checked, [0.0] * len(outputs), allow_unused=True)
    for g in grads:
        if g is not None and g.data != 0:
            raise GradcheckError("backward not multiplied by grad_output")


class _UndefinedGrad(Function):
    """Identity whose backward sends no gradient (torch's ``UndefinedGrad``)."""

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, g):
        return None


def _check_undefined_grad(func, inputs: tuple, checked: list) -> None:
    """Backward must cope with outputs that receive no gradient: all of them, or
    (for several outputs) one at a time."""
    n_outputs = sum(1 for o in _outputs(func(*inputs)) if o.requires_grad)
    cases = [None] + (list(range(n_outputs)) if n_outputs > 1 else [])
    for undefined in cases:
        outs = [o for o in _outputs(func(*inputs)) if o.requires_grad]
        outs = [_UndefinedGrad.apply(o) if undefined in (None, k) else o for k, o in enumerate(outs)]
        try:
            grads = grad(outs, checked, [0.0] * len(outs), allow_unused=True)
        except RuntimeError as e:
            raise GradcheckError(
                "Expected backward function to handle undefined output grads. Please look at "
                '"Notes about undefined output gradients" in "tools/autograd/derivatives.yaml"'
            ) from e
        for g in grads:
            if g is not None and g.data != 0:
                raise GradcheckError(
                    "Expected all input grads to be undefined or zero when all output grads are "
                    'undefined or zero. Please look at "Notes about undefined output gradients" '
                    'in "tools/autograd/derivatives.yaml"'
                )


# ---------------------------------------------------------------------------------
# gradgradcheck
# ---------------------------------------------------------------------------------

def gradgradcheck(func: Callable[..., Values], inputs: Values, grad_outputs=None, *, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check second derivatives: ``gradcheck`` of ``func``'s gradient.

    The function checked is ``(inputs, v) -> grad(func(inputs), inputs, v,
    create_graph=True)``, so both the dependence of the gradient on the inputs
    and on the output gradients ``v`` are tested.  ``grad_outputs`` gives ``v``
    (a Value or number, or a tuple/list of them, one per output that requires
    grad); a ``v`` that requires grad is itself checked.  When it is ``None``
    each ``v`` is ``Value(random.uniform(-1, 1), requires_grad=True)``: drawn from
    Python's ``random`` module, so ``random.seed`` makes the check repeatable.

    >>> from engine import Value, gradgradcheck
    >>> x = Value(0.5, requires_grad=True)
    >>> gradgradcheck(lambda a: a.sinh() * a, x)
    True
    """
    inputs = _as_tuple(inputs)
    if grad_outputs is None:
        n = sum(1 for o in _outputs(func(*inputs)) if o.requires_grad)
        vs = tuple(Value(random.uniform(-1.0, 1.0), requires_grad=True) for _ in range(n))
    else:
        vs = tuple(_as_grad_output(g) for g in _as_tuple(grad_outputs))
    n_inputs = len(inputs)

    def gradient(*args):
        ins, seeds = args[:n_inputs], args[n_inputs:]
        outs = [o for o in _outputs(func(*ins)) if o.requires_grad]
        wrt = [a for a in ins if a.__class__ is Value and a.requires_grad]
        grads = grad(outs, wrt, list(seeds), create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(gradient, inputs + vs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)


def _as_grad_output(g) -> Value:
    if g is None:
        return Value(random.uniform(-1.0, 1.0), requires_grad=True)
    if g.__class__ is Value:
        return g
    return Value(float(g)) if isinstance(g, (int, float)) else Value(g)


# ---------------------------------------------------------------------------------
# Anomaly detection
# ---------------------------------------------------------------------------------

ANOMALY_WARNING = (
    "Anomaly Detection has been enabled. This mode will increase the runtime and should "
    "only be enabled for debugging."
)


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on (off by default).

    >>> is_anomaly_enabled()
    False
    """
    return _anomaly.anomaly_mode.enabled


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly mode checks backward results for nan (on by default).

    >>> is_anomaly_check_nan_enabled()
    True
    """
    return _anomaly.anomaly_mode.check_nan


class set_detect_anomaly:
    """Turn anomaly detection on or off: as a function, or as a context manager that
    restores the previous state on exit (no warning, unlike ``detect_anomaly``).

    >>> from engine import set_detect_anomaly
    >>> with set_detect_anomaly(True, check_nan=False):
    ...     is_anomaly_enabled(), is_anomaly_check_nan_enabled()
    (True, False)
    >>> is_anomaly_enabled()
    False
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        _anomaly.set_anomaly(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info) -> None:
        _anomaly.set_anomaly(self.prev, self.prev_check_nan)


class detect_anomaly:
    """Context manager (and decorator) that turns on anomaly detection.

    While it is on, every new node remembers the line of code that created it.  If
    a node's backward then fails, a ``UserWarning`` shows that line ("Error detected
    in SqrtBackward0. Traceback of forward call that caused the error: ...") before
    the error; with ``check_nan`` a backward that returns nan raises
    ``RuntimeError("Function 'SqrtBackward0' returned nan values in its 0th output.")``.
    Creating it warns that the mode is slow and meant for debugging.  Off, it costs
    nothing.

    >>> import warnings
    >>> from engine import Value, detect_anomaly
    >>> x = Value(0.0, requires_grad=True)
    >>> with warnings.catch_warnings(record=True), detect_anomaly():
    ...     y = x.sqrt() * 0.0
    ...     y.backward()
    Traceback (most recent call last):
    RuntimeError: Function 'SqrtBackward0' returned nan values in its 0th output.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.prev = is_anomaly_enabled()
        self.check_nan = check_nan
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        warnings.warn(ANOMALY_WARNING, UserWarning, stacklevel=2)

    def __enter__(self) -> None:
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        _anomaly.set_anomaly(True, self.check_nan)

    def __exit__(self, *exc_info) -> None:
        _anomaly.set_anomaly(self.prev, self.prev_check_nan)

    def __call__(self, fn: Callable) -> Callable:
        check_nan = self.check_nan

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev, prev_check_nan = is_anomaly_enabled(), is_anomaly_check_nan_enabled()
            _anomaly.set_anomaly(True, check_nan)
            try:
                return fn(*args, **kwargs)
            finally:
                _anomaly.set_anomaly(prev, prev_check_nan)

        return wrapper

"""IEEE-754 arithmetic on Python numbers, the way torch's float64 kernels do it.

Python raises where IEEE returns a value: ``1 / 0.0`` is ``ZeroDivisionError``,
``math.log(0)`` is ``ValueError``, ``math.exp(1000)`` is ``OverflowError`` and
``(-8.0) ** 0.5`` is a complex number.  torch returns ``inf``, ``-inf``, ``inf`` and
``nan``.  Each function here is the torch behaviour for one operation, so no Python
exception ever escapes the engine's arithmetic.

>>> div(1.0, 0.0), div(-1.0, 0.0), div(0.0, 0.0)
(inf, -inf, nan)
>>> log(0.0), log(-1.0), sqrt(-1.0), exp(1000.0)
(-inf, nan, nan, inf)
>>> pow(0.0, -1.0), pow(-8.0, 1 / 3), pow(-10.0, 401.0)
(inf, nan, -inf)
>>> pow(-0.0, 0.5), pow_scalar(-0.0, 0.5)   # torch computes x ** 0.5 as sqrt(x)
(0.0, -0.0)
"""

import math

inf = math.inf
nan = math.nan


def _is_odd_integer(y) -> bool:
    return y == y and abs(y) != inf and y % 2 == 1


def div(a, b):
    """``a / b`` with IEEE semantics for a zero divisor."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return nan
        return math.copysign(inf, a) * math.copysign(1.0, b)


def pow(a, b):
    """``a ** b`` as IEEE ``pow``: never complex, never an exception."""
    try:
        r = a ** b
    except ZeroDivisionError:  # 0 ** negative
        return math.copysign(inf, a) if _is_odd_integer(b) else inf
    except OverflowError:
        if a < 0 and b % 1 != 0:  # negative base, fractional exponent: nan at any magnitude
            return nan
        return -inf if (a < 0 and _is_odd_integer(b)) else inf
    if r.__class__ is complex:  # negative base, fractional exponent
        return nan
    return r


def pow_scalar(a, n):
    """``a ** n`` for a number exponent, with torch's fast paths (bit for bit):
    0.5 is sqrt, -0.5 is 1/sqrt, 2 and 3 are products, -1 and -2 reciprocals."""
    if n == 2:
        return a * a
    if n == 0.5:
        return sqrt(a)
    if n == 3:
        return a * a * a
    if n == -0.5:
        return div(1.0, sqrt(a))
    if n == -1:
        return div(1.0, a)
    if n == -2:
        return div(1.0, a * a)
    return pow(a, n)


def exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return inf


def log(x):
    if x > 0:
        return math.log(x)
    if x == 0:
        return -inf
    return nan  # negative or nan


def sqrt(x):
    return math.sqrt(x) if x >= 0 else nan


def sin(x):
    try:
        return math.sin(x)
    except ValueError:  # sin(inf)
        return nan


def cos(x):
    try:
        return math.cos(x)
    except ValueError:
        return nan


def sinh(x):
    try:
        return math.sinh(x)
    except OverflowError:
        return math.copysign(inf, x)


def cosh(x):
    try:
        return math.cosh(x)
    except OverflowError:
        return inf


tanh = math.tanh


def sigmoid(x):
    """``1 / (1 + exp(-x))``, the formula torch's kernel uses (bit for bit)."""
    return 1.0 / (1.0 + exp(-x))


def relu(x):
    if x < 0:
        return 0 if x.__class__ is int else 0.0
    return x  # positive, zero (keeps its sign, like torch) or nan


def sign(x):
    """torch.sgn for real numbers: -1, 0 or 1 (nan gives 0, like torch)."""
    return (x > 0) - (x < 0)

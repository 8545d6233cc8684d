# SPDX-License-Identifier: MIT  (Copyright (c) 2026 twicegrad developers; full text in LICENSE)
"""twicegrad: a tiny scalar autograd engine with PyTorch's exact semantics.

>>> import engine
>>> x = engine.Value(2.0, requires_grad=True)
>>> dy, = engine.grad(x ** 3, x, create_graph=True)   # 3x^2, itself differentiable
>>> d2y, = engine.grad(dy, x)                           # 6x
>>> dy.item(), d2y.item()
(12.0, 12.0)

How to read it.  The core, in this order (about 1,400 lines of code; 2,300 lines in
all, with docstrings and comments):

1. ``value.py``: Value, a number that remembers the op that made it; ``Node``, what
   the backward graph is made of; ``_unary`` and ``_binary``, which record a node.
2. ``ops.py``: the op table.  Each op's forward and its derivative side by side.
3. ``autograd.py``: ``backward`` and ``grad``, and the walk that runs the graph
   backwards, newest node first.
4. ``grad_mode.py``: ``no_grad`` and its friends, the switch the ops read.

Beside the core, layered on it (read them when you need them):

* ``full_walk.py``: the walk with every torch corner: hooks, ``retain_grad``, inputs
  that are not leaves, custom Functions, anomaly mode, the recorder's observer;
* ``function.py`` (custom Functions), ``anomaly.py``, ``floats.py`` (IEEE arithmetic
  exactly as torch's), ``checks.py`` (gradcheck, detect_anomaly), ``functional.py``;
* ``compiled.py`` (trace once, replay as straight-line Python), ``nn.py``,
  ``optim.py``, ``viz.py`` with ``events.py`` and ``captions.py`` (drawing and the
  backward player), ``doctests.py``.
"""

__version__ = "0.1.0"  # the single source: pyproject.toml reads it (dynamic version)

from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .value import Value
from . import ops  # noqa: F401  (defines Value's operators, each beside its derivative)
from .autograd import backward, grad
from .function import Function, once_differentiable
from .checks import (GradcheckError, detect_anomaly, gradcheck, gradgradcheck, is_anomaly_check_nan_enabled,
                     is_anomaly_enabled, set_detect_anomaly)
from .compiled import compile, trace
from . import functional  # noqa: F401  (engine.functional after `import engine`, as torch.autograd.functional)

__all__ = [
    "Value", "grad", "backward", "Function", "once_differentiable",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "gradcheck", "gradgradcheck", "GradcheckError", "detect_anomaly", "set_detect_anomaly",
    "is_anomaly_enabled", "is_anomaly_check_nan_enabled",
    "compile", "trace",
]

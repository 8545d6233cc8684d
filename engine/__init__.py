# SPDX-License-Identifier: MIT  (Copyright (c) 2026 twicegrad developers; full text in LICENSE)
"""twicegrad: a tiny scalar autograd engine with PyTorch's exact semantics.

>>> import engine
>>> x = engine.Value(2.0, requires_grad=True)
>>> dy, = engine.grad(x ** 3, x, create_graph=True)   # 3x^2, itself differentiable
>>> d2y, = engine.grad(dy, x)                           # 6x
>>> dy.item(), d2y.item()
(12.0, 12.0)
"""

__version__ = "0.1.0"  # the single source: pyproject.toml reads it (dynamic version)

from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .value import Value
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

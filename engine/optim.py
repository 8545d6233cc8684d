"""Optimizers: ``SGD`` and ``Adam``, step for step the same numbers as ``torch.optim``.

An optimizer holds a list of parameters (leaf Values).  ``step()`` reads each one's
``.grad`` and assigns a new ``.data``; parameters whose ``.grad`` is ``None`` are
skipped, as torch does.  The arithmetic is torch's single-tensor code path written
on floats, in the same order, so a float64 run in torch and one here agree to the bit.

>>> from engine import Value
>>> from engine.optim import SGD
>>> w = Value(1.0, requires_grad=True)
>>> opt = SGD([w], lr=0.1)
>>> for _ in range(3):
...     opt.zero_grad()
...     loss = (w - 3) ** 2
...     loss.backward()
...     opt.step()
>>> round(w.item(), 6)
1.976
"""

from __future__ import annotations

import math
import numbers
import warnings
from fractions import Fraction
from typing import Callable, Iterable, Optional, Tuple

from .grad_mode import enable_grad, no_grad
from .nn import _zero_grads
from .value import Value

__all__ = ["Optimizer", "SGD", "Adam"]


def _fma_exact(a: float, b: float, c: float) -> float:
    """``a * b + c`` rounded once, as a fused multiply-add does (``math.fma`` before 3.13)."""
    try:
        exact = Fraction(a) * Fraction(b) + Fraction(c)
        return a * b + c if exact == 0 else float(exact)  # a zero keeps IEEE's sign rules
    except (ValueError, OverflowError):  # inf or nan in, or a result beyond float range
        return a * b + c


#: torch's CPU kernels for ``add(alpha=)``, ``lerp`` and ``addcmul`` use fused multiply-adds
#: (one rounding); so do the updates here, or trajectories drift apart by an ulp a step.
fma = getattr(math, "fma", _fma_exact)


class Optimizer:
    """What SGD and Adam share: the parameter list, ``state``, ``zero_grad``.

    ``param_groups`` is torch's: one group, a dict of ``params`` and the
    hyperparameters, read at every step, so a schedule can change
    ``opt.param_groups[0]["lr"]`` between steps.  ``state[p]`` holds the buffers of
    parameter ``p`` (floats).
    """

    def __init__(self, params: Iterable[Value], defaults: dict):
        if isinstance(params, Value):
            raise TypeError("params argument given to the optimizer should be an iterable of Values, but got Value")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for p in params:
            if isinstance(p, dict):
                raise TypeError("parameter groups (dicts) are not supported: pass the Values in one list")
            if p.__class__ is not Value:
                raise TypeError(f"optimizer can only optimize Values, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Value")
        if len({id(p) for p in params}) != len(params):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause "
                "an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                UserWarning, stacklevel=3,
            )
        self.defaults = defaults
        self.param_groups = [dict(defaults, params=params)]
        self.state: dict = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to ``None`` (default), or zeroed in place."""
        _zero_grads(self.param_groups[0]["params"], set_to_none)

    def step(self, closure: Optional[Callable[[], Value]] = None):
        """Update the parameters once; ``closure`` (if given) recomputes and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            group = self.param_groups[0]
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad.data, group)
        return loss

    def _update(self, p: Value, grad: float, group: dict) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = "".join(f"    {k}: {v}\n" for k, v in self.param_groups[0].items() if k != "params")
        return f"{type(self).__name__} (\nParameter Group 0\n{opts})"


def _check_number(name: str, x) -> None:
    if not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay (torch's).

    With ``g = grad + weight_decay * p``, momentum keeps ``buf = momentum * buf + g``
    (``buf = g`` the first time) and steps along it: ``p = p - lr * buf``.

    >>> w = Value(0.0, requires_grad=True)
    >>> opt = SGD([w], lr=0.5, momentum=0.9)
    >>> (2 * w).backward(); opt.step(); w
    Value(-1.0, requires_grad=True)
    >>> opt.step(); w   # the same gradient again: buf = 0.9 * 2 + 2
    Value(-2.9, requires_grad=True)
    >>> SGD([w], lr=-0.1)
    Traceback (most recent call last):
    ...
    ValueError: Invalid learning rate: -0.1
    """

    def __init__(self, params: Iterable[Value], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        for name, x in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            _check_number(name, x)
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    def _update(self, p: Value, grad: float, group: dict) -> None:
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        if weight_decay != 0:
            grad = fma(weight_decay, p.data, grad)  # grad.add(p, alpha=weight_decay)
        if momentum != 0:
            state = self.state.setdefault(p, {})
            buf = state.get("momentum_buffer")
            buf = grad if buf is None else buf * momentum + grad
            state["momentum_buffer"] = grad = buf
        p.data = fma(-group["lr"], grad, p.data)  # p.add_(grad, alpha=-lr)


class Adam(Optimizer):
    """Adam (Kingma & Ba), with torch's bias correction and L2 ``weight_decay``.

    Per parameter: ``m`` and ``v`` are running averages of the gradient and its
    square; the step is ``lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``.

    >>> w = Value(1.0, requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w * w).backward(); opt.step()
    >>> round(w.item(), 6)   # the first step has size lr (less eps's share)
    0.9
    >>> Adam([w], betas=(1.0, 0.999))
    Traceback (most recent call last):
    ...
    ValueError: Invalid beta parameter at index 0: 1.0
    """

    def __init__(self, params: Iterable[Value], lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of numbers, got {betas!r}")
        for name, x in (("lr", lr), ("betas[0]", betas[0]), ("betas[1]", betas[1]), ("eps", eps),
                        ("weight_decay", weight_decay)):
            _check_number(name, x)
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    def _update(self, p: Value, grad: float, group: dict) -> None:
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {"step": 0.0, "exp_avg": 0.0, "exp_avg_sq": 0.0}
        state["step"] = step = state["step"] + 1
        if weight_decay != 0:
            grad = fma(weight_decay, p.data, grad)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        w = 1 - beta1  # m.lerp_(grad, w), computed as torch's kernel does
        m = fma(w, grad - m, m) if abs(w) < 0.5 else fma(-(grad - m), 1 - w, grad)
        v = fma((1 - beta2) * grad, grad, v * beta2)  # v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        state["exp_avg"], state["exp_avg_sq"] = m, v
        step_size = lr / (1 - beta1 ** step)
        denom = math.sqrt(v) / (1 - beta2 ** step) ** 0.5 + eps
        p.data = p.data + -step_size * m / denom

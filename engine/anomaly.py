"""Anomaly mode (``engine.detect_anomaly``): where each node was made, and nan checks.

While it is on, the op helpers in ``value.py`` call ``record_creation`` for every
node they record (one ``if`` there, visible where the node is built), and the general
walk (``full_walk.py``) runs each node through ``run_node_anomalous``: a nan in a
gradient raises, and an error names the op and prints where it was created.

>>> import engine, warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")  # (detect_anomaly warns that it is slow)
...     with engine.detect_anomaly():
...         y = engine.Value(2.0, requires_grad=True) * 3
>>> y.grad_fn._extras.trace[-1].line
'y = engine.Value(2.0, requires_grad=True) * 3'
"""

from __future__ import annotations

import os
import traceback

__all__ = ["anomaly_mode", "set_anomaly", "record_creation"]


class _AnomalyMode:
    """Switched by ``engine.detect_anomaly``; ``enabled`` is read by every op that
    records (a slot: an attribute found on the class costs every op about 40 ns)."""

    __slots__ = ("enabled", "check_nan", "running")

    def __init__(self):
        self.enabled = False
        self.check_nan = True
        self.running = None  # the node whose backward is running: parent of the nodes it creates


anomaly_mode = _AnomalyMode()
_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))


def record_creation(node) -> None:
    """Anomaly mode: remember where in the user's code ``node`` was created."""
    stack = traceback.extract_stack()
    while stack and os.path.dirname(os.path.abspath(stack[-1].filename)) == _ENGINE_DIR:
        stack.pop()
    from .value import extras_of  # (value.py imports this module: import at use)
    meta = extras_of(node)
    meta.trace = stack
    meta.parent = anomaly_mode.running


def set_anomaly(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly mode on or off.  On, every new node records where it was created."""
    anomaly_mode.enabled = bool(enabled)
    anomaly_mode.check_nan = bool(check_nan)

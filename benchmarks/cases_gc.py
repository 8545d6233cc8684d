"""A garbage-collector recipe for big graphs, measured: build and backward of the
100,000-node DAG on twicegrad with the collector at its defaults (the reference), with
a higher first-generation threshold, after ``gc.freeze()``, and with the collector off
(a bound on what any setting can win, not a recommendation).

The settings are changed in the factory, so only in that benchmark's own child
process; nothing here or in the engine changes the collector's defaults.

>>> import gc
>>> before = gc.get_threshold()
>>> run = CASES["gc_dag"]["twicegrad, threshold 100,000"]()
>>> gc.get_threshold()[0]
100000
>>> gc.set_threshold(*before)   # the doctest runs in the test process: put it back
"""

from __future__ import annotations

import gc
from typing import Callable

import cases_core


def dag_build_and_backward(setting: Callable[[], None]):
    def factory():
        leaves = cases_core.dag_leaves(cases_core._tw)
        setting()

        def run():
            out, _ = cases_core.random_dag(leaves, cases_core.SIZES["dag"])
            out.backward()
            return out.data, leaves[0].grad.data, leaves[-1].grad.data
        return run
    return factory


def _defaults():
    pass


def _higher_threshold():
    gc.set_threshold(100_000, 50, 100)  # young collections every 100,000 allocations, not 700


def _freeze():
    gc.freeze()  # everything alive now (modules, the leaves) moves out of the collector's sight


def _off():
    gc.disable()


CASES = {
    "gc_dag": {
        "twicegrad": dag_build_and_backward(_defaults),
        "twicegrad, threshold 100,000": dag_build_and_backward(_higher_threshold),
        "twicegrad, gc.freeze()": dag_build_and_backward(_freeze),
        "twicegrad, gc off (bound)": dag_build_and_backward(_off),
    },
}
REFERENCE = {"gc_dag": "twicegrad"}
DESCRIPTIONS = {"gc_dag": "100,000-node random DAG: build and backward, garbage-collector settings"}

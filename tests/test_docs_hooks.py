"""The MkDocs hooks that turn docs blocks into graphs, engine source, benchmark tables
and API directives (docs/hooks/), tested on small inputs of their own."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.append(str(DOCS / "hooks"))  # appended: never shadows an installed module
import api  # noqa: E402
import graphs  # noqa: E402
import last_bits  # noqa: E402
import griffe_doctest  # noqa: E402
import mdblocks  # noqa: E402
import performance  # noqa: E402
import source  # noqa: E402

PAGE = '''# Title

```pycon
>>> 1 + 1
2
```

=== "PyTorch"

    ```pycon
    >>> a = 1
    ```

=== "twicegrad"

    Some text.

    ```python
    b = 2
    ```

After the tabs.

```graph id="g"
import graphviz
graphviz.Digraph()
```
'''


def test_blocks_tabs_and_groups():
    blocks = mdblocks.iter_blocks(PAGE)
    assert [b.language for b in blocks] == ["pycon", "pycon", "python", "graph"]
    assert [b.tab for b in blocks] == [None, "PyTorch", "twicegrad", None]
    assert blocks[1].group == blocks[2].group is not None
    assert blocks[1].source == ">>> a = 1\n"
    assert blocks[3].attrs == {"id": "g"}
    assert [mdblocks.namespace_of(b) for b in blocks] == ["engine", "torch", "engine", "engine"]
    titled = mdblocks.iter_blocks('```pycon title="PyTorch: as printed"\n>>> 1\n```\n')[0]
    assert mdblocks.namespace_of(titled) == "torch"


def test_replace_blocks_keeps_indentation():
    out = mdblocks.replace_blocks(PAGE, "python", lambda b: "REPLACED\n\nline two")
    assert "    REPLACED\n\n    line two\n" in out
    assert "b = 2" not in out


def test_graph_block_must_end_with_a_digraph():
    svg = graphs.render_svg('import graphviz\ng = graphviz.Digraph()\ng.edge("a", "b")\ng', "t1")
    assert svg.startswith("<svg") and 'id="t1-' in svg and 'class="node"' in svg
    with pytest.raises(TypeError):
        graphs.run_graph_code("x = 1\nx")
    with pytest.raises(ValueError):
        graphs.run_graph_code("x = 1")


def test_source_blocks_resolve_engine_names():
    text, rel, first = source.source_of("engine.grad_mode.is_grad_enabled")
    assert rel == "engine/grad_mode.py" and text.startswith("def is_grad_enabled") and first > 1
    with pytest.raises(AttributeError):
        source.source_of("engine.grad_mode.no_such_function")


def test_api_lists_public_modules():
    mods = api.public_modules()
    assert mods[0] == "engine" and "engine.nn" in mods and "engine.value" not in mods


def test_doctest_lines_are_fenced_for_mkdocstrings():
    text = "Intro.\n\n>>> x = 1\n>>> [x]\n[1]\n\nAfter."
    assert griffe_doctest.fence_examples(text) == "Intro.\n\n```pycon\n>>> x = 1\n>>> [x]\n[1]\n```\n\nAfter."


SAMPLE = {
    "date": "2026-01-01T00:00:00+00:00", "quick": False, "rounds": 9,
    "machine": {"cpu": "Some CPU", "cores": 2, "system": "Linux x86_64"},
    "versions": {"python": "3.11.7", "torch": "2.13.0", "micrograd": "0.1.0", "omnigrad": "0.2.3", "ad": "1.5.1"},
    "workloads": {
        "mlp_step": {"reference": "twicegrad", "description": "MLP", "not_applicable": {}, "backends": {
            "twicegrad": {"seconds": [0.1], "median_seconds": 0.1, "check": [1.0], "agrees": True},
            "micrograd": {"seconds": [0.5], "median_seconds": 0.5, "check": [1.0], "agrees": True,
                          "ratio": {"median": 5.0, "min": 4.5, "max": 5.5, "per_round": [5.0]}}}},
        "chain": {"reference": "twicegrad", "description": "chain", "not_applicable": {"ad": "no backward"},
                  "backends": {
            "twicegrad": {"seconds": [0.2], "median_seconds": 0.2, "check": [2.0], "agrees": True},
            "micrograd": {"seconds": [None], "error": "RecursionError: maximum recursion depth exceeded"},
            "torch": {"seconds": [0.6], "median_seconds": 0.6, "check": [2.0], "agrees": False,
                      "ratio": {"median": 3.0, "min": 2.9, "max": 3.2, "per_round": [3.0]}}}},
    },
    "memory": {"twicegrad": {"live": 130.0, "after_drop": 0.5}, "torch": {"error": "n/a: invisible"}},
    "targets": [
        {"workload": "mlp_step", "peer": "micrograd", "at_least": 6.0, "text": ">= 6x micrograd",
         "median": 5.0, "min": 4.5, "max": 5.5, "met": False},
        {"workload": "memory", "field": "live", "at_most": 160.0, "value": 130.0, "met": True},
    ],
}


def test_performance_table_and_chart(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(SAMPLE))
    monkeypatch.setenv("TWICEGRAD_BENCHMARK_RESULTS", str(path))
    data = performance.load()
    assert [r["case"] for r in performance.rows(data)] == ["mlp_step", "chain"]
    assert [r["case"] for r in performance.rows(data, exclude="chain")] == ["mlp_step"]
    table = performance.table(data)
    assert "| micrograd | 500 ms | 5.00× (4.50–5.50) | yes |" in table
    assert "| torch | 600 ms | 3.00× (2.90–3.20) | **no** |" in table  # a disagreeing backend is shown
    assert "| micrograd | RecursionError |" in table and "no backward" in table
    targets = performance.targets(data)
    assert "| ≥ 6× micrograd | 5.00× (4.50–5.50) | **missed** |" in targets
    assert "| ≤ 160 bytes per node, while the graph lives | 130.00 | met |" in targets
    assert "| twicegrad | 130.0 | 0.50 |" in performance.memory(data) and "invisible" in performance.memory(data)
    assert "Some CPU (2 cores" in performance.machine(data) and "rounds: 9" in performance.machine(data)
    svg = performance.chart(data)
    assert svg.startswith("<svg") and svg.count("<rect") >= 4 and "5×" in svg and "3×" in svg


def test_the_compiled_part_computes_its_ratios_round_by_round(tmp_path, monkeypatch):
    sample = dict(SAMPLE, workloads={"mlp_step_compiled": {"reference": "twicegrad", "backends": {
        "twicegrad": {"seconds": [1.0, 3.0, 2.0]},
        "twicegrad-compiled": {"seconds": [0.2, 0.1, 0.5]},
        "floats": {"seconds": [0.05, 0.1, 0.1]}}}})
    path = tmp_path / "results.json"
    path.write_text(json.dumps(sample))
    monkeypatch.setenv("TWICEGRAD_BENCHMARK_RESULTS", str(path))
    data = performance.load()
    # per round, eager/compiled: 5, 30, 4 and compiled/floats: 4, 1, 5; their medians, 5 and
    # 4, are not the ratios of the median times (2 / 0.2 = 10 and 0.2 / 0.1 = 2)
    en, zh = performance.compiled(data), performance.compiled(data, "zh")
    assert "| compiled step, against the eager engine | 5.0× faster (4.0–30.0×) |" in en
    assert "| compiled step, against the float forward pass | 4.00× the floor (1.00–5.00×) |" in en
    assert "| 编译后的一步，与 eager 引擎相比 | 快 5.0 倍（4.0–30.0 倍） |" in zh


def test_performance_refuses_the_old_results_shape(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"results": {}}))
    monkeypatch.setenv("TWICEGRAD_BENCHMARK_RESULTS", str(path))
    with pytest.raises(ValueError, match="'workloads'"):
        performance.load()


def test_performance_without_results(tmp_path, monkeypatch):
    monkeypatch.setenv("TWICEGRAD_BENCHMARK_RESULTS", str(tmp_path / "missing.json"))
    assert performance.load() is None


def test_last_bits_are_measured_against_torch_and_labelled(differ):
    torch = differ.torch
    data = last_bits.measure(n=300)
    assert set(data["functions"]) == set(last_bits.FUNCTIONS)
    xs = last_bits.inputs("sqrt", 300)
    assert min(xs) >= 0 and len(set(xs)) == 300
    differ = sum(torch.tensor(x, dtype=torch.float64).sqrt().item() != math.sqrt(x) for x in xs)
    assert data["functions"]["sqrt"]["differ"] == differ / 300
    assert data["capability"] == torch.backends.cpu.get_cpu_capability() and data["cpu"]
    table = last_bits.table(data)
    assert table.count("\n| `") == len(last_bits.FUNCTIONS) and data["capability"] in table
    assert data["cpu"] in last_bits.table(data, "zh")


def test_last_bits_block_is_replaced_and_survives_a_missing_torch():
    page = "Text.\n\n```last-bits\n```\n\nMore."
    fake = {"n": 10, "cpu": "Some CPU", "torch": "2.13.0", "capability": "AVX2", "python": "3.11.7",
            "libc": "glibc 2.36", "functions": {"exp": {"differ": 0.1, "max_ulps": 1.0}}}
    last_bits._MEASURED[:] = [fake]
    try:
        out = last_bits.on_page_markdown(page, None, {"theme": {"language": "en"}}, None)
    finally:
        last_bits._MEASURED.clear()
    assert "| `exp` | 10 in (-3, 3) | 10% | 1 ulp |" in out and "Some CPU" in out and "```" not in out
    assert "not installed" in last_bits.table(None) and "torch" in last_bits.table(None, "zh")

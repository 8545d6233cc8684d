"""Run every example; run the same example again on torch; the numbers must agree.

Each example is executed as a script (``python examples/<name>.py``, as a user would).
Then its ``main()`` runs a second time in this process with ``engine`` replaced by a
thin shim onto torch (0-dim float64 tensors, ``torch.autograd.grad``, ``torch.optim``,
``torch.autograd.functional``): the same source code, with torch as the oracle.  Every
line ``name = <python literal>`` the two runs print must agree (1e-12 relative: torch's
CPU tanh/exp/sqrt kernels differ from libm in the last bit for some inputs), and the
text lines must be equal.

micrograd's demo needs ``engine.nn``, so its torch twin is written out below instead.
"""

import ast
import contextlib
import importlib.util
import io
import math
import os
import random
import re
import subprocess
import sys
import types

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def run_script(name, *args):
    """Run ``examples/<name>`` in a fresh interpreter, as the README says; return stdout."""
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def torch_engine():
    """A module that looks like ``engine`` but is torch underneath."""
    shim = types.ModuleType("engine")

    def Value(data, requires_grad=False, *, name=None):
        return torch.tensor(float(data), dtype=torch.float64, requires_grad=requires_grad)

    shim.Value = Value
    shim.grad = torch.autograd.grad
    shim.backward = torch.autograd.backward
    shim.no_grad = torch.no_grad
    shim.enable_grad = torch.enable_grad
    shim.functional = torch.autograd.functional
    optim = types.ModuleType("engine.optim")
    optim.SGD = torch.optim.SGD
    optim.Adam = torch.optim.Adam
    shim.optim = optim
    return shim


def run_on_torch(name):
    """Run ``main()`` of ``examples/<name>`` with ``import engine`` giving the torch shim; return stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_on_torch_call(name, "main")
    return out.getvalue()


def run_on_torch_call(name, function, *args):
    """Call ``function(*args)`` of ``examples/<name>`` with ``import engine`` giving the torch shim."""
    shim = torch_engine()
    saved = {k: sys.modules.get(k) for k in ("engine", "engine.optim", "engine.functional")}
    sys.modules.update({"engine": shim, "engine.optim": shim.optim, "engine.functional": shim.functional})
    try:
        spec = importlib.util.spec_from_file_location(f"torch_twin_{name[:-3]}", os.path.join(EXAMPLES, name))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, function)(*args)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def parse(output):
    """``name = literal`` lines as a dict; every other line as text."""
    numbers, text = {}, []
    for line in output.splitlines():
        m = re.fullmatch(r"(\w+) = (.+)", line)
        if m:
            numbers[m.group(1)] = ast.literal_eval(m.group(2).replace("nan", "None").replace("inf", "1e999"))
        else:
            text.append(line)
    return numbers, text


def flat(x):
    if isinstance(x, (list, tuple)):
        return [y for item in x for y in flat(item)]
    return [x]


def assert_same_numbers(ours, theirs, rel=1e-12):
    assert ours.keys() == theirs.keys()
    for key in ours:
        a, b = flat(ours[key]), flat(theirs[key])
        assert len(a) == len(b), key
        for x, y in zip(a, b):
            if isinstance(y, bool) or y is None or isinstance(y, str):
                assert x == y, key
            else:
                assert x == pytest.approx(y, rel=rel, abs=1e-13), key  # abs: rounding noise near 0


@pytest.mark.parametrize("name", [
    "grad_accumulation.py",
    "gradient_as_function.py",
    "per_term_gradients.py",
    "newton_step.py",
])
def test_example_matches_torch(name):
    ours = parse(run_script(name))
    theirs = parse(run_on_torch(name))
    assert ours[0], "the example printed no numbers"
    assert_same_numbers(ours[0], theirs[0])
    assert ours[1] == theirs[1]


def test_grad_accumulation_equals_full_batch():
    numbers, text = parse(run_script("grad_accumulation.py"))
    assert text[:3] == [f"after backward #{i}: x.grad = {2.0 * i}" for i in (1, 2, 3)]
    assert numbers["accumulated_grad"] == pytest.approx(numbers["full_batch_grad"], rel=1e-14, abs=1e-16)
    assert numbers["max_abs_difference"] < 1e-15
    assert numbers["losses"][-1] < numbers["losses"][0]


def test_gradient_as_function():
    numbers, text = parse(run_script("gradient_as_function.py"))
    w, q = 2.0, 3.0  # f(w) = d(w^2 q)/dw = 2wq: df/dw = 2q, df/dq = 2w
    assert (numbers["f_w_grad"], numbers["f_q_grad"]) == (2 * q, 2 * w)
    # The fix changes nothing where the original worked (dim 1) ...
    assert numbers["fixed_dim1_step2_w"] == numbers["original_dim1_w"]
    assert numbers["fixed_dim1_step2_q"] == numbers["original_dim1_q"]
    # ... and the original dim-2 code fails as in torch (the text lines are compared with
    # torch's run in test_example_matches_torch; here: it is the freed-graph error).
    assert "original dim-2 code: RuntimeError: Trying to backward through the graph a second time" in text[0]
    # MAML's meta-gradient is not the first-order one: second derivatives flowed.
    assert numbers["maml_step0_meta_grad"] != pytest.approx(numbers["maml_step0_first_order_grad"], rel=0.01)
    assert numbers["maml_step4_outer_loss"] < numbers["maml_step0_outer_loss"]


def test_original_dim2_code_raises_on_torch_and_engine():
    """The question's dim-2 loop raises the same RuntimeError on torch and on the engine."""
    import engine

    spec = importlib.util.spec_from_file_location("gaf_engine", os.path.join(EXAMPLES, "gradient_as_function.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(RuntimeError) as ours:
        module.run_original(2)
    assert module.Value is engine.Value
    with pytest.raises(RuntimeError) as theirs:
        run_on_torch_call("gradient_as_function.py", "run_original", 2)
    assert str(ours.value) == str(theirs.value).replace("Tensor", "Value").replace("tensor", "value")
    module.run_original(1)  # dim 1 runs


def test_per_term_gradients():
    numbers, text = parse(run_script("per_term_gradients.py"))
    assert "grad and cached backward agree exactly: True" in text
    norms = [math.sqrt(sum(g * g for g in numbers[f"term{i}_grad"])) for i in range(3)]
    weighted = [w * n for w, n in zip(numbers["initial_weights"], norms)]
    assert weighted == pytest.approx([sum(norms) / 3] * 3, rel=1e-12)  # GradNorm's balance


def test_newton_step():
    numbers, _ = parse(run_script("newton_step.py"))
    H = numbers["hessian_functional"]
    assert numbers["hessian_by_hvp"] == [pytest.approx(row, rel=1e-12) for row in H]
    v = (0.3, -0.7)
    assert numbers["hvp"] == pytest.approx([H[0][0] * v[0] + H[0][1] * v[1], H[1][0] * v[0] + H[1][1] * v[1]],
                                           rel=1e-12)
    assert max(abs(g) for g in numbers["newton_final_gradient"]) < 1e-12  # a minimum ...
    steps = [numbers[f"newton_step{k}"][0] for k in range(6)]
    assert steps == sorted(steps, reverse=True)  # ... reached downhill
    gaps = [s - numbers["newton_final"][0] for s in steps[:4]]
    assert gaps[3] < gaps[2] ** 1.5  # quadratic convergence near the end


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name[:-3]}", os.path.join(EXAMPLES, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_micrograd_demo(X, y, steps, seed):
    """micrograd's demo written with torch matrices: the same weights, loss and updates."""
    random.seed(seed)
    sizes = [2, 16, 16, 1]
    Ws = [torch.tensor([[random.uniform(-1, 1) for _ in range(nin)] for _ in range(nout)], dtype=torch.float64,
                       requires_grad=True) for nin, nout in zip(sizes, sizes[1:])]
    bs = [torch.zeros(nout, dtype=torch.float64, requires_grad=True) for nout in sizes[1:]]
    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    history = []
    for k in range(steps):
        h = Xt
        for i, (W, b) in enumerate(zip(Ws, bs)):
            h = h @ W.T + b
            if i < len(Ws) - 1:
                h = torch.relu(h)
        scores = h[:, 0]
        data_loss = torch.relu(1 - yt * scores).sum() * (1.0 / len(y))
        reg_loss = 1e-4 * sum((p * p).sum() for p in Ws + bs)
        total = data_loss + reg_loss
        acc = ((yt > 0) == (scores > 0)).double().mean().item()
        for p in Ws + bs:
            p.grad = None
        total.backward()
        with torch.no_grad():
            for p in Ws + bs:
                p -= (1.0 - 0.9 * k / 100) * p.grad
        history.append((total.item(), acc))
    return history


def test_micrograd_demo_matches_torch_and_reaches_full_accuracy():
    """The demo's first 45 steps against torch, step by step.  Training accuracy first
    reaches 100% at step 44 (and ends at 100% after the demo's 100 steps, which take
    about 20 s: too long for a test)."""
    steps = 45
    out = run_script("micrograd_demo.py", "--steps", str(steps))
    lines = re.findall(r"^step (\d+) loss (\S+), accuracy (\S+)%", out, re.M)
    assert len(lines) == steps
    X, y = load_example("micrograd_demo.py").make_moons(100, noise=0.1, seed=1337)
    expected = torch_micrograd_demo(X, y, steps, 1337)
    for (k, loss, acc), (t_loss, t_acc) in zip(lines, expected):
        assert float(loss) == pytest.approx(t_loss, rel=1e-9), k
        assert float(acc) == pytest.approx(t_acc * 100)
    assert float(lines[44][2]) == 100.0
    assert "MLP of [Layer of [ReLUNeuron(2)" in out and "number of parameters 337" in out


def test_make_moons_is_two_moons():
    X, y = load_example("micrograd_demo.py").make_moons(200, noise=0.0, seed=3)
    assert sorted(y) == [-1] * 100 + [1] * 100
    for (a, b), label in zip(X, y):  # on the unit circle around (0, 0) or (1, 0.5)
        cx, cy = (0.0, 0.0) if label == -1 else (1.0, 0.5)
        assert math.hypot(a - cx, b - cy) == pytest.approx(1.0)
        assert (b >= -1e-12) if label == -1 else (b <= 0.5 + 1e-12)
    demo = load_example("micrograd_demo.py")
    assert demo.make_moons(50, seed=1) == load_example("micrograd_demo.py").make_moons(50, seed=1)


def test_micrograd_demo_plot_without_matplotlib_says_what_to_install(tmp_path):
    """``--plot`` with matplotlib unimportable: a clear message, exit status 1, no traceback."""
    code = ("import sys; sys.modules['matplotlib'] = None; sys.argv = ['micrograd_demo.py', '--steps', '1', "
            f"'--plot', {str(tmp_path / 'm.png')!r}]; import runpy; "
            f"runpy.run_path({os.path.join(EXAMPLES, 'micrograd_demo.py')!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "--plot needs matplotlib: pip install 'twicegrad[plot]' (or pip install matplotlib)"
    assert not (tmp_path / "m.png").exists()


def test_micrograd_demo_draws_its_decision_boundary(tmp_path):
    """``--plot out.png`` writes a real PNG picture (matplotlib is in the test extra)."""
    out = tmp_path / "boundary.png"
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "micrograd_demo.py"),
                           "--steps", "2", "--plot", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 200 and height >= 200


def test_micrograd_demo_compiled_trains_to_the_same_losses_bit_for_bit():
    """``--compiled``: the compiled run's losses are the eager run's, digit for digit
    (repr of a float round-trips: equal text is equal bits), and both timings print."""
    steps = ("--steps", "4")
    step_line = r"^step (\d+) loss (\S+), accuracy (\S+)%"
    eager = re.findall(step_line, run_script("micrograd_demo.py", *steps), re.M)
    out = run_script("micrograd_demo.py", *steps, "--compiled")
    compiled = re.findall(step_line, out, re.M)
    assert len(eager) == 4 and compiled == eager
    assert "compiled losses equal the eager ones bit for bit: True" in out
    assert re.search(r"^mean time per step: eager [\d.]+ ms, compiled [\d.]+ ms", out, re.M)

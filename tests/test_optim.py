"""engine.optim against torch.optim: the same parameter trajectories, the same errors."""

import math
import random
import warnings

import pytest
import torch

from engine import Value
from engine.nn import MLP
from engine.optim import SGD, Adam, _fma_exact

CONFIGS = [
    ("SGD", dict(lr=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.01, weight_decay=0.1)),
    ("SGD", dict(lr=0.02, momentum=0.5, weight_decay=0.01)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adam", dict(lr=0.05, betas=(0.3, 0.5), eps=1e-3)),  # lerp's other branch (weight >= 0.5)
]


#: torch's float64 kernels for add(alpha=), lerp and addcmul round once (a fused
#: multiply-add) when torch runs its AVX2 or AVX-512 kernels, and engine.optim does the
#: same; its plain kernels (other processors, ATEN_CPU_CAPABILITY=default) round twice.
FUSED = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def same_update(a: float, b: float, ulps: int = 0) -> bool:
    """The same double (or within ``ulps`` ulps) where torch fuses its multiply-adds;
    elsewhere within a relative 1e-12 (a second rounding, then cancellation in
    ``p - lr * g``, moves the last bits of a small result)."""
    if FUSED:
        return a == b or abs(a - b) <= ulps * math.ulp(b)
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


def make(kind, params, kw, lib):
    cls = {"SGD": SGD, "Adam": Adam}[kind] if lib == "engine" else getattr(torch.optim, kind)
    return cls(params, **kw)


def t64(x, requires_grad=False):
    return torch.tensor(x, dtype=torch.float64, requires_grad=requires_grad)


def loss_fn(p):
    """A small non-convex problem built from + - * / ** only (exactly the same floats in both)."""
    a, b, c, d = p
    return (1 - a) ** 2 + 5 * (b - a * a) ** 2 + (c * d - 0.5) ** 2 / (1 + d * d) + 0.1 * c ** 4


@pytest.mark.parametrize("kind,kw", CONFIGS)
def test_update_arithmetic_matches_torch_to_the_bit(kind, kw):
    """Given the same gradients, each step gives torch's parameters to the last bit (SGD;
    where torch fuses its multiply-adds, else to a relative 1e-12: see ``same_update``).

    Adam differs by an ulp in rare steps: its denominator takes ``sqrt(exp_avg_sq)``, and
    torch 2.13's CPU float64 sqrt is not correctly rounded for about 0.6% of inputs
    (``torch.tensor(275.8312528507329).sqrt()`` is 16.60816825693709, the correctly
    rounded root is 16.608168256937095), while the engine uses ``math.sqrt``.  So Adam
    is compared to 2 ulps, after which the engine takes torch's parameter values, so
    that each step is compared from the same start.
    """
    rng = random.Random(7)
    init = [rng.uniform(-2, 2) for _ in range(30)]
    ev = [Value(x, requires_grad=True) for x in init]
    tv = [t64(x, True) for x in init]
    eo, to = make(kind, ev, kw, "engine"), make(kind, tv, kw, "torch")
    for _ in range(25):
        for e, t in zip(ev, tv):
            g = rng.gauss(0, 1) * math.exp(rng.uniform(-6, 6))
            e.grad, t.grad = Value(g), t64(g)
        eo.step()
        to.step()
        for e, t in zip(ev, tv):
            if kind == "SGD":
                assert same_update(e.data, t.item())
            else:
                assert same_update(e.data, t.item(), ulps=2)
                assert same_update(eo.state[e]["exp_avg"], to.state[t]["exp_avg"].item())
                assert same_update(eo.state[e]["exp_avg_sq"], to.state[t]["exp_avg_sq"].item())
                eo.state[e]["exp_avg"] = to.state[t]["exp_avg"].item()
                eo.state[e]["exp_avg_sq"] = to.state[t]["exp_avg_sq"].item()
            e.data = t.item()  # the next step starts where torch's did


@pytest.mark.parametrize("kind,kw", CONFIGS)
def test_trajectory_matches_torch(kind, kw):
    init = [-1.2, 1.0, 0.7, -0.3]
    ev = [Value(x, requires_grad=True) for x in init]
    tv = [t64(x, True) for x in init]
    eo, to = make(kind, ev, kw, "engine"), make(kind, tv, kw, "torch")
    for _ in range(40):
        eo.zero_grad()
        to.zero_grad()
        le, lt = loss_fn(ev), loss_fn(tv)
        assert le.data == pytest.approx(lt.item(), rel=1e-12)
        le.backward()
        lt.backward()
        eo.step()
        to.step()
        for e, t in zip(ev, tv):
            assert e.data == pytest.approx(t.item(), rel=1e-12, abs=1e-300)


def test_mlp_training_with_adam_matches_torch():
    """engine.nn + engine.optim vs the same network written with torch tensors."""
    random.seed(3)
    model = MLP(2, [4, 1])
    params = model.parameters()
    tparams = [t64(p.data, True) for p in params]
    data = [([0.5, -1.0], 1.0), ([-0.3, 0.8], -1.0), ([1.5, 0.2], 0.5)]

    def torch_model(x):
        it = iter(tparams)
        hidden = []
        for _ in range(4):
            w0, w1, b = next(it), next(it), next(it)
            hidden.append(torch.relu(b + w0 * x[0] + w1 * x[1]))
        ws = [next(it) for _ in range(4)]
        b = next(it)
        out = b
        for w, h in zip(ws, hidden):
            out = out + w * h
        return out

    eo, to = Adam(model.parameters(), lr=0.05), torch.optim.Adam(tparams, lr=0.05)
    for _ in range(20):
        eo.zero_grad()
        to.zero_grad()
        le = sum((model(x) - y) ** 2 for x, y in data)
        lt = sum((torch_model(x) - y) ** 2 for x, y in data)
        assert le.data == pytest.approx(lt.item(), rel=1e-12)
        le.backward()
        lt.backward()
        eo.step()
        to.step()
    assert [p.data for p in params] == pytest.approx([t.item() for t in tparams], rel=1e-12)


def test_params_may_be_a_generator_and_none_grads_are_skipped():
    a, b = Value(1.0, requires_grad=True), Value(2.0, requires_grad=True)
    ta, tb = t64(1.0, True), t64(2.0, True)
    eo = SGD((p for p in [a, b]), lr=0.1, momentum=0.9)
    to = torch.optim.SGD((p for p in [ta, tb]), lr=0.1, momentum=0.9)
    for _ in range(3):
        (a * 3).backward()
        (ta * 3).backward()
        eo.step()
        to.step()
    assert same_update(a.data, ta.item()) and b.data == tb.item()
    assert b.grad is None and tb.grad is None
    assert (b in eo.state) == (tb in to.state)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_like_torch(set_to_none):
    a, b = Value(1.0, requires_grad=True), Value(2.0, requires_grad=True)
    ta, tb = t64(1.0, True), t64(2.0, True)
    eo, to = Adam([a, b]), torch.optim.Adam([ta, tb])
    (a * 3).backward()
    (ta * 3).backward()
    ga, tga = a.grad, ta.grad
    eo.zero_grad(set_to_none)
    to.zero_grad(set_to_none)
    assert (a.grad is None) == (ta.grad is None)
    assert (b.grad is None) == (tb.grad is None)
    if not set_to_none:
        assert (a.grad is ga) == (ta.grad is tga)
        assert a.grad.data == ta.grad.item()


def test_lr_schedule_through_param_groups():
    a, ta = Value(1.0, requires_grad=True), t64(1.0, True)
    eo, to = SGD([a], lr=0.5), torch.optim.SGD([ta], lr=0.5)
    for k in range(5):
        for opt in (eo, to):
            opt.param_groups[0]["lr"] = 1.0 - 0.9 * k / 5
            opt.zero_grad()
        (a * a).backward()
        (ta * ta).backward()
        eo.step()
        to.step()
        assert same_update(a.data, ta.item())
        a.data = ta.item()


def test_step_closure():
    a, ta = Value(1.0, requires_grad=True), t64(1.0, True)
    eo, to = SGD([a], lr=0.1), torch.optim.SGD([ta], lr=0.1)

    def closure_e():
        eo.zero_grad()
        loss = a * a
        loss.backward()
        return loss

    def closure_t():
        to.zero_grad()
        loss = ta * ta
        loss.backward()
        return loss

    assert eo.step(closure_e).data == to.step(closure_t).item()
    assert a.data == ta.item()


def test_step_records_nothing():
    """The update runs under no_grad even when .grad carries a graph (create_graph)."""
    a, ta = Value(1.0, requires_grad=True), t64(1.0, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (a ** 3).backward(create_graph=True)
        (ta ** 3).backward(create_graph=True)
    assert a.grad.requires_grad and ta.grad.requires_grad
    SGD([a], lr=0.1).step()
    torch.optim.SGD([ta], lr=0.1).step()
    assert (a.data, a.is_leaf, a.requires_grad) == (ta.item(), ta.is_leaf, ta.requires_grad)


def torch_error(make_torch):
    with pytest.raises(Exception) as info:
        make_torch()
    return info.type, str(info.value).replace("Tensor", "Value").replace("tensor", "value")


BAD = [
    ("SGD", dict(lr=-0.1)),
    ("SGD", dict(lr=0.1, momentum=-0.5)),
    ("SGD", dict(lr=0.1, weight_decay=-1)),
    ("Adam", dict(lr=-1e-3)),
    ("Adam", dict(eps=-1.0)),
    ("Adam", dict(betas=(1.0, 0.999))),
    ("Adam", dict(betas=(-0.1, 0.999))),
    ("Adam", dict(betas=(0.9, 1.0))),
    ("Adam", dict(betas=(0.9, float("nan")))),
    ("Adam", dict(weight_decay=-0.5)),
]


@pytest.mark.parametrize("kind,kw", BAD)
def test_bad_hyperparameters_raise_torch_errors(kind, kw):
    etype, message = torch_error(lambda: make(kind, [t64(1.0, True)], kw, "torch"))
    assert etype is ValueError
    with pytest.raises(ValueError) as info:
        make(kind, [Value(1.0, requires_grad=True)], kw, "engine")
    assert str(info.value) == message


@pytest.mark.parametrize("which", ["empty", "empty generator", "non-leaf", "float"])
def test_bad_params_raise_torch_errors(which):
    e = Value(1.0, requires_grad=True)
    t = t64(1.0, True)
    eng, tor = {
        "empty": ([], []),
        "empty generator": (iter([]), iter([])),
        "non-leaf": ([e * 2], [t * 2]),
        "float": ([1.0], [1.0]),
    }[which]
    etype, message = torch_error(lambda: torch.optim.SGD(tor, lr=0.1))
    with pytest.raises(etype) as info:
        SGD(eng, lr=0.1)
    assert str(info.value) == message


def test_a_single_value_is_not_a_parameter_list():
    with pytest.raises(TypeError) as t_info:
        torch.optim.SGD(t64(1.0, True), lr=0.1)
    with pytest.raises(TypeError, match="iterable of Values, but got Value") as info:
        SGD(Value(1.0, requires_grad=True), lr=0.1)
    assert str(info.value).startswith(str(t_info.value)[:49].replace("Tensors", "Values"))


def test_duplicate_parameters_warn_like_torch():
    t = t64(1.0, True)
    with pytest.warns(UserWarning) as t_rec:
        torch.optim.SGD([t, t], lr=0.1)
    e = Value(1.0, requires_grad=True)
    with pytest.warns(UserWarning) as e_rec:
        SGD([e, e], lr=0.1)
    assert str(e_rec[0].message) == str(t_rec[0].message)


def test_non_numbers_are_type_errors():
    with pytest.raises(TypeError, match="lr must be a real number, got str"):
        SGD([Value(1.0, requires_grad=True)], lr="0.1")
    with pytest.raises(TypeError, match="betas"):
        Adam([Value(1.0, requires_grad=True)], betas=0.9)


def test_exact_fma_helper():
    """The pure-Python fma against exact rational arithmetic and the IEEE special cases."""
    from fractions import Fraction

    rng = random.Random(0)
    for _ in range(500):
        a, b, c = (rng.uniform(-1, 1) * 10 ** rng.randint(-8, 8) for _ in range(3))
        assert _fma_exact(a, b, c) == float(Fraction(a) * Fraction(b) + Fraction(c))
    assert _fma_exact(0.1, 10.0, -1.0) == 5.551115123125783e-17  # a*b+c would give 0.0
    assert math.isnan(_fma_exact(float("inf"), 0.0, 1.0))
    assert _fma_exact(1e308, 10.0, 0.0) == float("inf")
    assert math.copysign(1, _fma_exact(-0.0, 1.0, -0.0)) == -1

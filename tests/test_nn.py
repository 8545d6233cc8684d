"""engine.nn: micrograd's models step for step, torch's Module API."""

import random
import sys
import warnings

import micrograd.engine
import micrograd.nn
import numpy as np
import pytest
import torch

import engine
from engine import Value
from engine.nn import MLP, Layer, Module, Neuron


def notebook_loss(model, X, y, Value):
    """The loss cell of micrograd's demo.ipynb, verbatim but for ``Value`` being passed in."""
    inputs = [list(map(Value, xrow)) for xrow in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    alpha = 1e-4
    reg_loss = alpha * sum(p * p for p in model.parameters())
    total_loss = data_loss + reg_loss
    accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


def notebook_training(MLP, Value, X, y, steps):
    random.seed(1337)
    model = MLP(2, [8, 8, 1])
    history = []
    for k in range(steps):
        total_loss, acc = notebook_loss(model, X, y, Value)
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        history.append((total_loss.data, acc))
    return history


def test_micrograd_demo_trains_step_for_step_like_micrograd():
    """micrograd's notebook loop (numpy inputs, ``p.data -= lr * p.grad``, ``zero_grad``)
    on both engines from the same ``random.seed``: the same loss at every step.

    Not to the bit: the losses agree exactly for the first steps, then differ in the
    last digits (about 1e-15 relative).  Each parameter's gradient is a sum over the
    paths to it, and the two engines add those terms in different orders: micrograd
    in a depth-first order over ``set``s of children (it varies with memory
    addresses), the engine newest node first, like torch.  Float addition is not
    associative, so the sums can differ by an ulp.
    """
    rng = np.random.RandomState(1337)
    X = rng.randn(30, 2)
    y = np.where(X[:, 0] * X[:, 1] + 0.3 * X[:, 0] > 0, 1, -1)  # numpy int labels, as make_moons gives
    ours = notebook_training(MLP, Value, X, y, 12)
    theirs = notebook_training(micrograd.nn.MLP, micrograd.engine.Value, X, y, 12)
    assert [acc for _, acc in ours] == [acc for _, acc in theirs]
    assert ours[0][0] == theirs[0][0]
    for (a, _), (b, _) in zip(ours, theirs):
        assert a == pytest.approx(b, rel=1e-9)
    assert ours[-1][0] < ours[0][0]


def test_same_initial_weights_and_reprs_as_micrograd():
    for args in [(2, [16, 16, 1]), (3, [4, 2])]:
        random.seed(5)
        ours = MLP(*args)
        random.seed(5)
        theirs = micrograd.nn.MLP(*args)
        assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]
        assert repr(ours) == repr(theirs)
    for kw in [{}, {"nonlin": False}]:
        random.seed(1)
        n, mn = Neuron(3, **kw), (random.seed(1), micrograd.nn.Neuron(3, **kw))[1]
        assert repr(n) == repr(mn) and [p.data for p in n.parameters()] == [p.data for p in mn.parameters()]
        random.seed(1)
        layer, ml = Layer(3, 2, **kw), (random.seed(1), micrograd.nn.Layer(3, 2, **kw))[1]
        assert repr(layer) == repr(ml)


def test_forward_and_gradients_match_torch():
    random.seed(11)
    model = MLP(3, [5, 4, 1])
    Ws = [[[w.data for w in n.w] for n in layer.neurons] for layer in model.layers]
    bs = [[n.b.data for n in layer.neurons] for layer in model.layers]
    tW = [torch.tensor(W, dtype=torch.float64, requires_grad=True) for W in Ws]
    tb = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in bs]
    x = [0.5, -1.5, 2.0]
    out = model(x)
    h = torch.tensor(x, dtype=torch.float64)
    for i, (W, b) in enumerate(zip(tW, tb)):
        h = W @ h + b
        h = torch.relu(h) if i < len(tW) - 1 else h
    assert out.data == pytest.approx(h.item(), rel=1e-14)
    assert out.grad_fn.name() == "AddBackward0" and model.layers[0](x)[0].grad_fn.name() == "ReluBackward0"
    out.backward()
    h.backward()
    for layer, W, b in zip(model.layers, tW, tb):
        for j, n in enumerate(layer.neurons):
            assert [w.grad.data for w in n.w] == pytest.approx(W.grad[j].tolist(), rel=1e-14)
            assert n.b.grad.data == pytest.approx(b.grad[j].item(), rel=1e-14)


def test_parameters_are_leaves_that_require_grad():
    random.seed(0)
    ps = MLP(2, [3, 1]).parameters()
    assert len(ps) == 3 * 3 + 4
    assert all(p.is_leaf and p.requires_grad and isinstance(p.data, float) for p in ps)
    assert repr(ps[2]) == "Value(0.0, requires_grad=True)"  # the bias: micrograd's 0, as a float


def test_named_parameters():
    random.seed(0)
    names = [n for n, _ in MLP(2, [2, 1]).named_parameters()]
    assert names == [
        "layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1", "layers.0.neurons.0.b",
        "layers.0.neurons.1.w.0", "layers.0.neurons.1.w.1", "layers.0.neurons.1.b",
        "layers.1.neurons.0.w.0", "layers.1.neurons.0.w.1", "layers.1.neurons.0.b",
    ]


def test_shared_parameters_once_and_constants_left_out():
    class Tied(Module):
        def __init__(self):
            self.w = Value(1.0, requires_grad=True)
            self.scale = Value(2.0)  # a constant, not a parameter
            self.pair = (self.w, Value(3.0, requires_grad=True))
            self.again = self

    assert [n for n, _ in Tied().named_parameters()] == ["w", "pair.1"]


def test_deeply_nested_modules_need_no_recursion():
    class Wrap(Module):
        def __init__(self, inner):
            self.inner = inner
            self.p = Value(1.0, requires_grad=True)

    m = Neuron(1)
    for _ in range(sys.getrecursionlimit() * 3):
        m = Wrap(m)
    assert len(m.parameters()) == sys.getrecursionlimit() * 3 + 2


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_like_torch(set_to_none):
    random.seed(0)
    n = Neuron(2)
    lin = torch.nn.Linear(2, 1).double()
    x = [1.0, 2.0]
    n(x).backward()
    lin(torch.tensor(x, dtype=torch.float64)).sum().backward()
    g_e, g_t = n.w[0].grad, lin.weight.grad
    n.zero_grad(set_to_none=set_to_none)
    lin.zero_grad(set_to_none=set_to_none)
    assert (n.w[0].grad is None) == (lin.weight.grad is None)
    if not set_to_none:
        assert (n.w[0].grad is g_e) == (lin.weight.grad is g_t)
        assert n.w[0].grad.data == lin.weight.grad[0, 0].item() == 0.0
    n.zero_grad(set_to_none=False)  # a None .grad stays None in torch
    lin.zero_grad()
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is None and n.zero_grad() is None and n.w[0].grad is None


def test_zero_grad_detaches_a_create_graph_grad_in_place_like_torch():
    p = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
    m = torch.nn.Module()
    m.p = p
    with warnings.catch_warnings():  # the reference-cycle warning: once per process, maybe already shown
        warnings.simplefilter("ignore")
        (p ** 3).backward(create_graph=True)
    g = p.grad
    m.zero_grad(set_to_none=False)

    class One(Module):
        def __init__(self):
            self.p = Value(1.0, requires_grad=True)

    e = One()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (e.p ** 3).backward(create_graph=True)
    ge = e.p.grad
    assert ge.requires_grad
    e.zero_grad(set_to_none=False)
    assert (e.p.grad is ge) == (p.grad is g)
    assert (ge.requires_grad, ge.grad_fn, ge.data) == (g.requires_grad, g.grad_fn, g.item())


def test_module_without_forward_raises_like_torch():
    with pytest.raises(NotImplementedError) as t_info:
        torch.nn.Module()(1)

    class Module_(Module):
        pass

    Module_.__name__ = "Module"
    with pytest.raises(NotImplementedError) as info:
        Module_()(1)
    assert str(info.value) == str(t_info.value)


def test_wrong_number_of_inputs_is_a_clear_error():
    random.seed(0)
    with pytest.raises(ValueError, match=r"ReLUNeuron\(3\) expects 3 inputs, got 2"):
        MLP(3, [2, 1])([1.0, 2.0])


def test_no_grad_forward_records_nothing():
    random.seed(0)
    model = MLP(2, [3, 1])
    with engine.no_grad():
        out = model([1.0, 2.0])
    assert out.grad_fn is None and not out.requires_grad

"""Neural networks made of Values: micrograd's ``Neuron``, ``Layer`` and ``MLP``.

The constructors, the initialisation (``random.uniform(-1, 1)`` per weight, drawn in
the same order, bias 0) and the reprs are micrograd's, so micrograd's demo runs after
changing the import and, from the same ``random.seed``, takes the same steps.  What is
torch's: ``Module`` has ``parameters()``, ``named_parameters()`` and
``zero_grad(set_to_none=True)``, and calling a module runs its ``forward``.

Parameters are leaves with ``requires_grad=True``; ``backward()`` fills their ``.grad``
with a Value, so micrograd's update ``p.data -= lr * p.grad`` works as it is.

>>> import random
>>> from engine.nn import MLP
>>> random.seed(0)
>>> model = MLP(2, [4, 1])
>>> model
MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)], Layer of [LinearNeuron(4)]]
>>> len(model.parameters())
17
>>> y = model([1.0, -2.0]); y.backward()
>>> model.layers[1].neurons[0].b.grad
Value(1.0)
"""

from __future__ import annotations

import random
from typing import Any, Iterable, Iterator, List, Sequence, Tuple, Union

from .value import Value, state_changed

__all__ = ["Module", "Neuron", "Layer", "MLP"]

Input = Sequence[Union[Value, float, int]]


def _zero_grads(params: Iterable[Value], set_to_none: bool) -> None:
    """What ``zero_grad`` does in torch, for modules and optimizers alike.

    ``set_to_none=True`` drops each ``.grad``.  ``False`` zeroes an existing ``.grad``
    in place (the same object, detached from any graph, as torch's ``detach_()`` then
    ``zero_()``) and leaves a ``None`` as it is.
    """
    for p in params:
        g = p.grad
        if g is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            g._node = None  # detach in place: a .grad built under create_graph loses its graph
            g._requires_grad = False
            g._data = 0.0
            state_changed()


class Module:
    """Base class of models: finds the parameters in its attributes, like torch.

    A parameter is a Value attribute that requires grad, or one in a list or tuple
    attribute; sub-modules (also in lists and tuples) are searched the same way.
    Subclasses define ``forward``; ``module(x)`` calls it.

    >>> class Affine(Module):
    ...     def __init__(self):
    ...         self.a = Value(2.0, requires_grad=True)
    ...         self.b = Value(0.5, requires_grad=True)
    ...     def forward(self, x):
    ...         return self.a * x + self.b
    >>> f = Affine()
    >>> [name for name, _ in f.named_parameters()]
    ['a', 'b']
    >>> f(3.0)
    Value(6.5, grad_fn=<AddBackward0>)
    """

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required \"forward\" function")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_parameters(self) -> Iterator[Tuple[str, Value]]:
        """Yield ``(dotted name, parameter)`` in attribute order, each parameter once.

        >>> import random; random.seed(0)
        >>> [name for name, _ in Neuron(2).named_parameters()]
        ['w.0', 'w.1', 'b']
        """
        seen = {id(self)}
        stack = [("", iter(vars(self).items()))]  # explicit stack of iterators: no recursion
        while stack:
            prefix, items = stack[-1]
            for key, item in items:
                name = f"{prefix}{key}"
                if item.__class__ is Value:
                    if item.requires_grad and id(item) not in seen:
                        seen.add(id(item))
                        yield name, item
                elif isinstance(item, (Module, list, tuple)) and id(item) not in seen:
                    seen.add(id(item))
                    children: Iterable[Tuple[Any, Any]] = vars(item).items() if isinstance(item, Module) \
                        else enumerate(item)
                    stack.append((name + ".", iter(children)))
                    break  # descend; this level's iterator resumes afterwards
            else:
                stack.pop()

    def parameters(self) -> List[Value]:
        """All parameters as a list (micrograd returns a list, so this does too).

        >>> import random; random.seed(0)
        >>> Neuron(3).parameters()[-1]
        Value(0.0, requires_grad=True)
        """
        return [p for _, p in self.named_parameters()]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to ``None``, or zeroed in place.

        >>> import random; random.seed(0)
        >>> n = Neuron(1); n([2.0]).backward()
        >>> n.zero_grad(); n.b.grad is None
        True
        """
        _zero_grads(self.parameters(), set_to_none)


class Neuron(Module):
    """``relu(w . x + b)``, or ``w . x + b`` with ``nonlin=False``, micrograd's neuron.

    >>> import random; random.seed(1)
    >>> n = Neuron(2, nonlin=False)
    >>> n
    LinearNeuron(2)
    >>> n([1.0, 0.0]).item() == n.w[0].item()
    True
    """

    def __init__(self, nin: int, nonlin: bool = True):
        self.w = [Value(random.uniform(-1, 1), requires_grad=True) for _ in range(nin)]
        self.b = Value(0.0, requires_grad=True)
        self.nonlin = nonlin

    def forward(self, x: Input) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"{self!r} expects {len(self.w)} inputs, got {len(x)}")
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons reading the same inputs; one output is returned bare, as in micrograd.

    >>> import random; random.seed(0)
    >>> Layer(3, 2)
    Layer of [ReLUNeuron(3), ReLUNeuron(3)]
    """

    def __init__(self, nin: int, nout: int, **kwargs):
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def forward(self, x: Input) -> Union[Value, List[Value]]:
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Layers of sizes ``nouts`` on ``nin`` inputs: ReLU hidden layers, a linear last one.

    >>> import random; random.seed(0)
    >>> model = MLP(2, [16, 16, 1])
    >>> len(model.parameters())
    337
    """

    def __init__(self, nin: int, nouts: List[int]):
        sz = [nin] + list(nouts)
        self.layers = [Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))]

    def forward(self, x: Input) -> Union[Value, List[Value]]:
        out: Any = x
        for layer in self.layers:
            out = layer(out)
        return out

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"

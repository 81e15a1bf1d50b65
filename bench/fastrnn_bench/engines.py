"""How each engine is called: one weight set, the same inputs, two modes.

========  ==============================================================================
engine    how it runs
========  ==============================================================================
c         ``fastrnn.set_backend("c")``, the layer API (``fastrnn.SRN/LSTM/GRU``)
numpy     ``fastrnn.set_backend("numpy")``, the reference engine, same layer object type
torch     ``torch.nn.RNN/LSTM/GRU`` on CPU, loaded with the fastrnn layer's ``state_dict``
========  ==============================================================================

Modes: ``fwd`` is inference, ``layer.forward(x, train=False)`` (torch: ``module(x)``
under ``torch.inference_mode()``); ``fwdbwd`` is one training step,
``layer.forward(x, train=True)`` then ``layer.backward(dy)`` (torch: x and the
parameters require grad, ``y.backward(dy)``), gradients zeroed outside the timed
region. Every engine computes dx and all parameter gradients.

Every engine offers the same two methods, so a new table only needs a new engine
class with them:

* ``run_all()``: every array validation compares (``validation.validate``);
* ``calls(mode)``: ``(setup, target)``; ``setup`` (or None) runs untimed before each
  timed call of ``target``; ``target`` returns the seconds of its forward part in
  ``fwdbwd`` (the "train-fwd" column) and None otherwise.

Extension point, the streaming table: a ``StepEngine`` per library (fastrnn with
T=1 and carried state, ``torch.nn.LSTMCell`` etc. and ``nn.LSTM`` with carried state
under ``torch.inference_mode()``, the NumPy engine), each with ``calls("step")``,
goes here; ``overhead.py`` already builds the T=1 calls at each fastrnn level.
"""

import time

import numpy as np

from . import import_fastrnn, import_torch
from .grid import ENGINE_LABEL, size_name

INPUT_SEED = 1234


def make_inputs(size, dtype, seed=INPUT_SEED):
    """x (T, N, I) and dy (T, N, H), standard normal, the same for every engine."""
    T, N, I, H = size
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, I)).astype(dtype)
    dy = rng.standard_normal((T, N, H)).astype(dtype)
    return x, dy


def make_layer(cell, size, dtype, seed=0):
    """A one-layer fastrnn SRN(tanh)/LSTM/GRU with input I, hidden H and fixed weights."""
    fastrnn = import_fastrnn()
    T, N, I, H = size
    if cell == "srn":
        return fastrnn.SRN(I, H, nonlinearity="tanh", dtype=dtype, seed=seed)
    return {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU}[cell](I, H, dtype=dtype, seed=seed)


def _states(state, names=("h", "c")):
    """[(name, array)] of a layer's returned state: h, or (h, c)."""
    if isinstance(state, tuple):
        return list(zip(names, state))
    return [("h", state)]


class FastrnnEngine:
    """One fastrnn layer run through one backend ("c" or "numpy") via the layer API."""

    def __init__(self, backend, cell, size, dtype, x, dy):
        self.name, self.backend, self.cell = backend, backend, cell
        self.layer = make_layer(cell, size, dtype)
        self.x, self.dy = x, dy
        self._fastrnn = import_fastrnn()

    def _use(self):
        self._fastrnn.set_backend(self.backend)   # a global switch: outside the timed region

    def run_all(self):
        self._use()
        layer = self.layer
        y_inf, state_inf = layer.forward(self.x, train=False)
        layer.zero_grad()
        y, state = layer.forward(self.x, train=True)
        dx, dstate0 = layer.backward(self.dy)
        out = {"y(train=False)": y_inf, "y": y, "dx": dx}
        for (name, s_inf), (_, s), (_, ds) in zip(_states(state_inf), _states(state),
                                                  _states(dstate0)):
            out[f"{name}_T(train=False)"] = s_inf
            out[f"{name}_T"] = s
            out[f"d{name}0"] = ds
        for name, g in self.layer.grads.items():
            out["grad " + name] = g.copy()
        return out

    def calls(self, mode):
        layer, x, dy = self.layer, self.x, self.dy
        if mode == "fwd":
            def infer():
                layer.forward(x, train=False)
            return self._use, infer
        if mode != "fwdbwd":
            raise ValueError(f"mode: expected 'fwd' or 'fwdbwd', got {mode!r}")

        def setup():
            self._use()
            layer.zero_grad()

        def target():
            t0 = time.perf_counter()
            layer.forward(x, train=True)
            t1 = time.perf_counter()
            layer.backward(dy)
            return t1 - t0
        return setup, target


class TorchEngine:
    """torch.nn.RNN/LSTM/GRU on CPU with the fastrnn layer's weights (state_dict keys agree)."""

    def __init__(self, cell, size, dtype, x, dy, state_dict):
        torch = self._torch = import_torch()
        T, N, I, H = size
        tdtype = torch.float32 if dtype == "float32" else torch.float64
        if cell == "srn":
            m = torch.nn.RNN(I, H, nonlinearity="tanh", dtype=tdtype)
        else:
            m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H, dtype=tdtype)
        m.load_state_dict({k: torch.from_numpy(np.array(v, dtype=dtype))
                           for k, v in state_dict.items()})
        self.name, self.m, self.cell = "torch", m, cell
        self.x_inf = torch.from_numpy(x.copy())
        self.x = torch.from_numpy(x.copy()).requires_grad_(True)
        self.dy = torch.from_numpy(dy.copy())

    def run_all(self):
        m = self.m
        with self._torch.inference_mode():
            y_inf, state_inf = m(self.x_inf)
        m.zero_grad(set_to_none=True)
        self.x.grad = None
        y, state = m(self.x)
        y.backward(self.dy)
        out = {"y(train=False)": y_inf.numpy(), "y": y.detach().numpy(),
               "dx": self.x.grad.numpy()}
        for (name, s_inf), (_, s) in zip(_states(state_inf), _states(state)):
            out[f"{name}_T(train=False)"] = s_inf.numpy()
            out[f"{name}_T"] = s.detach().numpy()
        for name, p in m.named_parameters():
            out["grad " + name] = p.grad.numpy().copy()
        return out

    def calls(self, mode):
        m, torch = self.m, self._torch
        if mode == "fwd":
            x = self.x_inf

            def target():
                with torch.inference_mode():
                    m(x)
            return None, target
        if mode != "fwdbwd":
            raise ValueError(f"mode: expected 'fwd' or 'fwdbwd', got {mode!r}")
        x, dy = self.x, self.dy

        def setup():
            m.zero_grad(set_to_none=True)
            x.grad = None

        def target():
            t0 = time.perf_counter()
            y, _ = m(x)
            t1 = time.perf_counter()
            y.backward(dy)
            return t1 - t0
        return setup, target


def unavailable(engines):
    """{engine: why} for the requested engines this process cannot run."""
    why = {}
    if "c" in engines and not import_fastrnn().c_engine_available():
        why["c"] = ("the C engine is not available (fastrnn.c_engine_available() is False); "
                    "build it with `python setup.py build_ext --inplace`")
    if "torch" in engines and import_torch() is None:
        why["torch"] = "torch is not importable (optional: pip install torch==2.13.0)"
    return why


def build(cell, size, dtype, engines):
    """The engines of one (cell, size, dtype), on the same inputs and weights.

    Returns ``(engines, problems)``: name -> engine for those that were built, and a
    message for each that raised while being built."""
    x, dy = make_inputs(size, dtype)
    built, problems = {}, []
    for name in engines:
        try:
            if name == "torch":
                built[name] = TorchEngine(cell, size, dtype, x, dy,
                                          make_layer(cell, size, dtype).state_dict())
            else:
                built[name] = FastrnnEngine(name, cell, size, dtype, x, dy)
        except Exception as exc:  # noqa: BLE001 - reported, the other engines go on
            problems.append(f"{cell} {size_name(size)} {dtype}: building the "
                            f"{ENGINE_LABEL[name]} engine raised {type(exc).__name__}: {exc}")
    return built, problems

"""The streaming step (issue 12): one time step at a time, the state carried.

One step of a one-layer SRN(tanh)/LSTM/GRU, T=1, N sequences, input = hidden = H,
float32, from each of these, the state carried from step to step:

========  ==============================================================================
engine    the call
========  ==============================================================================
stream    fastrnn's ``stream = layer.stream(batch_size=N)``, then ``stream.step(x_t)``
          (x_t (N, I) -> y_t (N, H)); ``stream.packed_nbytes`` is the bytes of packed
          weights a step reads
layer     fastrnn's ``layer.forward(x[None], state, train=False)`` on the C engine: what a
          streaming loop does without ``stream``
numpy     the same on the NumPy engine
cell      ``torch.nn.RNNCell/LSTMCell/GRUCell`` under ``torch.inference_mode()``
module    ``torch.nn.RNN/LSTM/GRU`` on a (1, N, I) input with the state passed in and
          carried, under ``torch.inference_mode()``
floor     the memory floor: reading ``packed_nbytes`` bytes once, warm, the way a step
          re-reads its weights: ``np.add.reduce`` (floor-sum) and ``np.maximum.reduce``
          (floor-max) over a float32 buffer of that size, one thread; the report takes
          the faster of the two as the floor and says which
========  ==============================================================================

Before a (cell, N, H) is timed, every engine runs ``VALIDATE_STEPS`` steps from the
zero state and must give the NumPy engine's ``forward(x, train=False)`` output of
the same steps (relative error ``grid.RTOL``).

Until fastrnn has ``layer.stream``, ``stream_missing()`` says why and the table is
skipped with that note (``test_streaming.py``).
"""

import numpy as np

from . import import_fastrnn, import_torch
from .engines import make_layer
from .grid import RTOL
from .validation import Mismatch, rel_err

CELLS = ("srn", "lstm", "gru")
HIDDEN = (64, 256, 1024)
BATCHES = (1, 8)
FIXED_H = 16              # the fixed cost of one step call: H=16, N=1
DTYPE = "float32"
ENGINES = ("stream", "layer", "numpy", "cell", "module", "floor-sum", "floor-max")
ENGINE_LABEL = {"stream": "fastrnn stream.step", "layer": "fastrnn forward T=1",
                "numpy": "NumPy engine T=1", "cell": "torch Cell", "module": "torch module",
                "floor-sum": "floor (add.reduce)", "floor-max": "floor (maximum.reduce)"}
VALIDATE_STEPS = 3


def configs(hidden=HIDDEN, batches=BATCHES, cells=CELLS):
    """(cell, N, H) in run order: the fixed-cost size (H=16, N=1) first, then the table."""
    out = [(c, 1, FIXED_H) for c in cells]
    return out + [(c, N, H) for c in cells for H in hidden for N in batches]


def stream_missing():
    """None when fastrnn's layers have ``stream``; else why the table is skipped."""
    fastrnn = import_fastrnn()
    if not fastrnn.c_engine_available():
        return "the C engine is not built (fastrnn.c_engine_available() is False)"
    if not hasattr(fastrnn.LSTM, "stream"):
        return ("fastrnn's layers have no `stream` method yet (issue 12's "
                "`layer.stream(batch_size=N)`): the streaming table is skipped")
    return None


def _zero_state(cell, N, H, dtype):
    h = np.zeros((1, N, H), dtype=dtype)
    return (h, h.copy()) if cell == "lstm" else h


def _carry(first_state, step):
    """A zero-argument call running ``step(state) -> (y, state)`` on a carried state."""
    box = [first_state]

    def call():
        y, box[0] = step(box[0])
        return y
    return call


def _torch_modules(cell, I, H, state_dict, dtype):
    torch = import_torch()
    tdtype = torch.float32 if dtype == "float32" else torch.float64
    if cell == "srn":
        c = torch.nn.RNNCell(I, H, nonlinearity="tanh", dtype=tdtype)
        m = torch.nn.RNN(I, H, nonlinearity="tanh", dtype=tdtype)
    else:
        c = {"lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[cell](I, H, dtype=tdtype)
        m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H, dtype=tdtype)
    sd = {k: torch.from_numpy(np.array(v, dtype=dtype)) for k, v in state_dict.items()}
    m.load_state_dict(sd)
    c.load_state_dict({k.replace("_l0", ""): v for k, v in sd.items()})
    return c.eval(), m.eval()


class StepEngines:
    """Every engine's one-step call for one (cell, N, H), validated; ``calls[name]`` is a
    zero-argument step. ``packed_nbytes`` comes from fastrnn's stream."""

    def __init__(self, cell, N, H, dtype=DTYPE, engines=ENGINES, seed=7):
        self.cell, self.N, self.H, self.dtype = cell, N, H, dtype
        fastrnn = self._fastrnn = import_fastrnn()
        I = H
        rng = np.random.default_rng(seed)
        self.xs = rng.standard_normal((VALIDATE_STEPS, N, I)).astype(dtype)
        self.layer = make_layer(cell, (1, N, I, H), dtype)
        fastrnn.set_backend("c")
        self.stream = self.layer.stream(batch_size=N)
        self.packed_nbytes = int(self.stream.packed_nbytes)
        fastrnn.set_backend("numpy")
        self.reference, _ = self.layer.forward(self.xs, _zero_state(cell, N, H, dtype),
                                               train=False)
        self.builders = {"stream": self._stream, "layer": self._layer("c"),
                         "numpy": self._layer("numpy"), "cell": self._cell,
                         "module": self._module, "floor-sum": self._floor(np.add),
                         "floor-max": self._floor(np.maximum)}
        self.calls, self.validations = {}, []
        for name in engines:
            if name in ("cell", "module") and import_torch() is None:
                continue
            self.use(name)
            self.calls[name] = self.builders[name]()

    # each builder returns the timed call, after checking VALIDATE_STEPS steps
    def _check(self, name, ys):
        if name.startswith("floor"):
            return
        err, where = rel_err(np.stack([np.asarray(y) for y in ys]), self.reference)
        tol = RTOL[self.dtype]
        self.validations.append(dict(pair=f"{name} vs numpy forward", cell=self.cell,
                                     N=self.N, H=self.H, max_rel_err=err, rtol=tol))
        if not err <= tol:
            raise Mismatch(f"streaming {self.cell} N={self.N} H={self.H}: {name}'s steps "
                           f"differ from the NumPy engine's forward by {err:.3g} (> {tol:g}); "
                           f"{where}")

    def use(self, name):
        """Set the global backend an engine needs (outside the timed region)."""
        if name in ("stream", "layer"):
            self._fastrnn.set_backend("c")
        elif name == "numpy":
            self._fastrnn.set_backend("numpy")

    def _stream(self):
        step = self.stream.step
        self._check("stream", [np.array(step(x)) for x in self.xs])
        x = self.xs[0]
        return lambda: step(x)

    def _layer(self, backend):
        def build():
            self._fastrnn.set_backend(backend)
            layer = self.layer
            state = _zero_state(self.cell, self.N, self.H, self.dtype)
            ys = []
            for x in self.xs:
                y, state = layer.forward(x[None], state, train=False)
                ys.append(y[0].copy())
            self._check("layer" if backend == "c" else "numpy", ys)
            x1 = self.xs[:1]
            return _carry(state, lambda s: layer.forward(x1, s, train=False))
        return build

    def _torch_pair(self):
        if not hasattr(self, "_torch"):
            self._torch = _torch_modules(self.cell, self.H, self.H, self.layer.state_dict(),
                                         self.dtype)
        return self._torch

    def _cell(self):
        torch = import_torch()
        cell_m, _ = self._torch_pair()
        xs = [torch.from_numpy(x.copy()) for x in self.xs]
        z = torch.zeros(self.N, self.H, dtype=xs[0].dtype)
        lstm = self.cell == "lstm"

        def step(s, x):
            with torch.inference_mode():
                if lstm:
                    h, c = cell_m(x, s)
                    return h, (h, c)
                h = cell_m(x, s)
                return h, h
        state, ys = ((z, z.clone()) if lstm else z), []
        for x in xs:
            y, state = step(state, x)
            ys.append(y.numpy().copy())
        self._check("cell", ys)
        return _carry(state, lambda s: step(s, xs[0]))

    def _module(self):
        torch = import_torch()
        _, mod = self._torch_pair()
        xs = [torch.from_numpy(x[None].copy()) for x in self.xs]
        z = torch.zeros(1, self.N, self.H, dtype=xs[0].dtype)

        def step(s, x):
            with torch.inference_mode():
                return mod(x, s)
        state, ys = ((z, z.clone()) if self.cell == "lstm" else z), []
        for x in xs:
            y, state = step(state, x)
            ys.append(y[0].numpy().copy())
        self._check("module", ys)
        return _carry(state, lambda s: step(s, xs[0]))

    def _floor(self, ufunc):
        def build():
            n = max(1, self.packed_nbytes // 4)
            buf = np.random.default_rng(0).standard_normal(n).astype(np.float32)
            reduce = ufunc.reduce
            reduce(buf)                                  # warm: the buffer in cache if it fits
            return lambda: reduce(buf)
        return build


def floor_of(records):
    """(seconds, engine) of the memory floor among a config's records: the faster of the
    floor-sum and floor-max rows."""
    floors = [(r["median_s"], r["engine"]) for r in records
              if str(r.get("engine", "")).startswith("floor")]
    return min(floors) if floors else (None, None)

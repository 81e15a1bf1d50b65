"""The lab's training run: a cell with a linear readout trained on the adding problem.

Deliberately small, and built from the package's public toolkit: the layers,
``fastrnn.init.lstm_forget_bias_`` for the LSTM's forget-gate bias,
``fastrnn.optim.Adam``/``SGD`` and ``fastrnn.clip.clip_grad_norm`` (global-norm
clipping over every parameter, Pascanu et al. 2013), so the lab trains exactly
as a user of the package does.
"""

import numpy as np

from ..core.layers import GRU, LSTM, SRN, param_name
from ..train import clip as _clip
from ..train import optim as _optim
from ..train.init import lstm_forget_bias_
from . import tasks
from .jacobians import spectral_radius

__all__ = ["CELL_LABELS", "make_cell", "AddingModel", "train_adding"]

CELL_LABELS = {"srn": "SRN (tanh)", "residual": "residual SRN", "lstm": "LSTM", "gru": "GRU"}


def make_cell(cell, input_size, hidden_size, seed, dtype=np.float64, gate_bias=1.0, rho=None):
    """A one-layer recurrent layer with PyTorch's initialization.

    Parameters
    ----------
    cell : {"srn", "residual", "lstm", "gru"}
        "residual" is the residual SRN (tanh).
    input_size, hidden_size : int
    seed : int
        The layer's initialization seed.
    dtype : numpy dtype, default float64
    gate_bias : float or None, default 1.0
        The LSTM's forget-gate bias, set with ``fastrnn.init.lstm_forget_bias_``
        (the usual 1 of Gers et al. 2000 and Jozefowicz et al. 2015); None keeps
        PyTorch's initialization. Ignored by the other cells.
    rho : float, optional
        SRN cells only: replace ``W_hh`` by a Gaussian matrix (drawn from ``seed``)
        scaled to this spectral radius.

    Returns
    -------
    fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU

    Raises
    ------
    ValueError
        For an unknown cell, or ``rho`` with a gated cell.
    """
    if cell in ("srn", "residual"):
        layer = SRN(input_size, hidden_size, residual=cell == "residual", dtype=dtype, seed=seed)
    elif cell == "lstm":
        layer = LSTM(input_size, hidden_size, dtype=dtype, seed=seed)
        if gate_bias is not None:
            lstm_forget_bias_(layer, gate_bias)
    elif cell == "gru":
        layer = GRU(input_size, hidden_size, dtype=dtype, seed=seed)
    else:
        raise ValueError(f"cell: expected one of {tuple(CELL_LABELS)}, got {cell!r}")
    if rho is not None:
        if cell not in ("srn", "residual"):
            raise ValueError(f"rho: only for the SRN cells, got cell {cell!r}")
        W = np.random.default_rng(seed).standard_normal((hidden_size, hidden_size))
        layer.params[param_name("weight_hh")][...] = W * (rho / spectral_radius(W))
        layer.mark_params_changed()  # the in-place write above
    return layer


class AddingModel:
    """``pred = W_out h_T + b_out``: a linear readout of a layer's last output.

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
        One direction (the readout reads ``y[-1]``, shape (N, hidden_size)).
    outputs : int
        Width of the prediction.
    seed : int
        Seeds the readout's initialization, uniform in ``(-1, 1) / sqrt(H)``.

    Attributes
    ----------
    layer : the layer
    W_out : ndarray, shape (outputs, H)
    b_out : ndarray, shape (outputs,)
    params, grads : dict of ndarray
        The layer's named parameters plus ``"readout.weight"``, ``"readout.bias"``,
        and their gradients (what ``fastrnn.optim`` and ``fastrnn.clip`` take).
    """

    def __init__(self, layer, outputs, seed):
        H, dtype = layer.hidden_size, layer.dtype
        rng = np.random.default_rng(seed + 7919)
        self.layer = layer
        self.W_out = (rng.uniform(-1, 1, (outputs, H)) / np.sqrt(H)).astype(dtype)
        self.b_out = np.zeros(outputs, dtype=dtype)
        self.params = dict(layer.params, **{"readout.weight": self.W_out,
                                            "readout.bias": self.b_out})
        self.grads = dict(layer.grads, **{"readout.weight": np.zeros_like(self.W_out),
                                          "readout.bias": np.zeros_like(self.b_out)})

    def predict(self, x):
        """Predictions for a batch (no training cache is kept).

        Parameters
        ----------
        x : ndarray, shape (T, N, I)

        Returns
        -------
        ndarray, shape (N, outputs)
        """
        y, _ = self.layer.forward(x, train=False)
        return y[-1] @ self.W_out.T + self.b_out

    def loss_and_grads(self, x, target):
        """Mean squared error at the last step, and its gradients written into ``grads``.

        Parameters
        ----------
        x : ndarray, shape (T, N, I)
        target : ndarray, shape (N, outputs)

        Returns
        -------
        float
            The loss (computed in float64).
        """
        y, _ = self.layer.forward(x, train=True)
        hT = y[-1]
        err = hT @ self.W_out.T + self.b_out - target
        loss = float(np.mean(err.astype(np.float64) ** 2))
        dpred = (2.0 / err.size) * err
        dy = np.zeros_like(y)
        dy[-1] = dpred @ self.W_out
        self.layer.zero_grad()
        self.layer.backward(dy)
        self.grads["readout.weight"][...] = dpred.T @ hT
        self.grads["readout.bias"][...] = dpred.sum(axis=0)
        return loss


def train_adding(cell, T, steps, seed=0, hidden=32, batch=32, lr=1e-2, optimizer="adam",
                 clip=1.0, threshold=0.1, eval_every=50, test_size=256, dtype=np.float32,
                 gate_bias=1.0, rho=None, stop_early=True, return_model=False):
    """Train ``cell`` on the adding problem at sequence length ``T`` for ``steps`` batches.

    Success: the test mean squared error (``test_size`` fresh sequences) falls
    below ``threshold`` times the baseline 1/6 (the model explains at least
    ``1 - threshold`` of the target variance) at an evaluation within the
    budget; with ``stop_early`` training stops there. The data stream depends
    on ``(seed, T)`` only, so every cell sees the same batches. A step whose
    loss or gradient norm is not finite ends the run as diverged.

    Parameters
    ----------
    cell : {"srn", "residual", "lstm", "gru"}
    T, steps : int
        Sequence length and the training budget in batches.
    seed : int, default 0
    hidden, batch : int, default 32
    lr : float, default 0.01
    optimizer : {"adam", "sgd"}, default "adam"
        ``fastrnn.optim.Adam`` or plain ``fastrnn.optim.SGD``.
    clip : float or None, default 1.0
        Max global gradient norm (``fastrnn.clip.clip_grad_norm``); None: no clipping.
    threshold : float, default 0.1
    eval_every : int, default 50
    test_size : int, default 256
    dtype : numpy dtype, default float32
    gate_bias, rho
        As :func:`make_cell`.
    stop_early : bool, default True
    return_model : bool, default False

    Returns
    -------
    dict
        ``cell``, ``T``, ``seed``, ``clip``, ``success``, ``steps_to_success``,
        ``test_mse``, ``diverged``, ``steps`` (taken), ``losses`` and
        ``grad_norms`` (per step, the norm before clipping), and with
        ``return_model`` the trained :class:`AddingModel` as ``model``.

    Raises
    ------
    ValueError
        For an unknown cell or optimizer.
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer: expected 'adam' or 'sgd', got {optimizer!r}")
    layer = make_cell(cell, 2, hidden, seed, dtype=dtype, gate_bias=gate_bias, rho=rho)
    model = AddingModel(layer, 1, seed)
    opt_cls = _optim.Adam if optimizer == "adam" else _optim.SGD
    opt = opt_cls(model.params, model.grads, lr=lr)
    stream = np.random.default_rng([seed, T, 1])
    test = tasks.adding_problem(test_size, T, seed=[seed, T, 2], dtype=dtype)
    target = 1.0 / 6.0 * threshold
    losses, norms = [], []
    success_at, test_mse, diverged = None, float("nan"), False
    with np.errstate(all="ignore"):
        for step in range(1, steps + 1):
            task = tasks.adding_problem(batch, T, seed=stream, dtype=dtype)
            loss = model.loss_and_grads(task.x, task.y)
            if clip is None:
                norm = _clip.grad_norm(model.grads)
            else:
                norm = _clip.clip_grad_norm(model.grads, clip)
            losses.append(loss)
            norms.append(norm)
            if not (np.isfinite(loss) and np.isfinite(norm)):
                diverged = True
                break
            opt.step()
            if step % eval_every == 0 or step == steps:
                pred = model.predict(test.x)
                test_mse = float(np.mean((pred.astype(np.float64) - test.y) ** 2))
                if not np.isfinite(test_mse):
                    diverged = True
                    break
                if test_mse < target and success_at is None:
                    success_at = step
                    if stop_early:
                        break
    res = dict(cell=cell, T=T, seed=seed, clip=clip, success=success_at is not None,
               steps_to_success=success_at, test_mse=test_mse, diverged=diverged,
               losses=np.array(losses), grad_norms=np.array(norms), steps=len(losses))
    if return_model:
        res["model"] = model
    return res

"""The lab's experiments: ``python -m fastrnn gradflow`` and ``python -m fastrnn lag``.

* gradflow: ``log ||dL_T/dh_k||`` against the lag ``T - k`` for the SRN (tanh),
  the residual SRN, the LSTM and the GRU on the same adding-problem batch, at
  initialization and (optionally) after a short training run, with the fitted
  per-step decay rate of each and the largest finite-time Lyapunov exponent
  of the trajectory's Jacobians; plus the textbook's one-unit toy run on the
  engine (``1.01^1000``, ``0.99^1000``).
* lag: the success rate of each cell on the adding problem at lags 10 ... 200
  over several seeds under one training budget, with and without gradient
  clipping (the Bengio et al. 1994 curve for the SRN), and an SRN initialized
  with spectral radius > 1 trained by plain SGD unclipped (it diverges) next
  to the clipped run (it trains).

This module runs them and wires the commands; the training run is
``fastrnn.lab.training`` (the package's own optimizers, clipping and
initializers) and the tables, CSV files and figures are ``fastrnn.lab.reporting``.
"""

import argparse
import contextlib
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from . import diagnostics as dg
from . import tasks
from .reporting import figure_backend, write_gradflow, write_lag
from .training import CELL_LABELS, make_cell, train_adding
from ..core.backend import get_backend, get_engine, set_backend
from ..core.layers import param_name

__all__ = ["make_cell", "train_adding", "run_gradflow", "run_lag", "run_explode",
           "add_gradflow_arguments", "cmd_gradflow", "main_gradflow", "add_lag_arguments",
           "cmd_lag", "main_lag", "CELL_LABELS", "GRADFLOW_CELLS", "DEFAULT_LAGS"]

DEFAULT_LAGS = (10, 20, 50, 100, 200)


def _limit_threads():
    """A context with one thread for the C engine and NumPy's BLAS (threadpoolctl, when
    installed): the matrices here are tiny and threads only contend, worse with several
    worker processes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    get_engine()  # load the engine first: threadpoolctl limits only loaded libraries
    return threadpool_limits(1)


# --- gradflow ----------------------------------------------------------------------

GRADFLOW_CELLS = ("srn", "residual", "lstm", "gru")


def run_gradflow(T=100, hidden=32, batch=32, seed=0, train_steps=0, gate_bias=1.0,
                 lyap_seqs=4, cells=GRADFLOW_CELLS, lr=1e-2):
    """Gradient flow of each cell on one adding-problem batch (float64).

    Each cell gets the loss ``<v, h_T>`` at the last step (unit ``v``) and
    ``||dL/dh_k||`` (geometric mean over the batch) by lag ``T-1-k`` from the
    engine's backward; ``fit_decay`` gives its per-step rate. With
    ``train_steps`` > 0 each cell is also measured after training on the adding
    problem at the same T (:func:`train_adding`: Adam, clipped, until it
    solves the task or for ``train_steps`` steps). The largest Lyapunov exponent comes
    from the Jacobians of the first ``lyap_seqs`` sequences (0 skips it).

    Parameters
    ----------
    T, hidden, batch, seed : int
        Sequence length, hidden units, sequences, seed.
    train_steps : int, default 0
        The training budget of the "trained" stage (0: initialization only).
    gate_bias : float or None, default 1.0
        The LSTM's forget-gate bias (:func:`make_cell`).
    lyap_seqs : int, default 4
    cells : tuple of str, default GRADFLOW_CELLS
    lr : float, default 0.01
        Adam's learning rate for the training.

    Returns
    -------
    dict
        The settings, ``rows`` (one dict per cell and stage: fitted ``rate``,
        ``gamma``, relative norms, ``lyapunov``, ``rho``, ``test_mse``, ...),
        ``curves`` ``{(cell, stage): (lags, norms)}`` and ``toy`` (the
        one-unit recurrence at w = 1.01 and 0.99).
    """
    data = tasks.adding_problem(batch, T, seed=[seed, T, 3], dtype=np.float64)
    stages = ["init"] + (["trained"] if train_steps else [])
    rows, curves = [], {}
    for cell in cells:
        for stage in stages:
            if stage == "trained":
                r = train_adding(cell, T, train_steps, seed=seed, hidden=hidden, batch=batch,
                                 lr=lr, dtype=np.float64, gate_bias=gate_bias,
                                 return_model=True)
                layer, mse = r["model"].layer, r["test_mse"]
                trained_steps = r["steps"]
            else:
                layer = make_cell(cell, 2, hidden, seed, dtype=np.float64, gate_bias=gate_bias)
                mse = trained_steps = None
            flow = dg.gradient_flow(layer, data.x, steps="last", seed=seed)
            lags, norms = flow.by_lag(reduce="geomean")
            curves[(cell, stage)] = (lags, norms)
            fit = dg.fit_decay(lags, norms)
            fit_c = None
            if cell == "lstm":
                fit_c = dg.fit_decay(*flow.by_lag(state="c", reduce="geomean"))
            lyap = None
            if lyap_seqs:
                J = dg.step_jacobians(layer, data.x[:, :lyap_seqs])
                lyap = float(np.mean(dg.lyapunov_exponents(J, num=1)[:, 0]))
            rho = dg.spectral_radius(layer.params[param_name("weight_hh")])
            rho = float(rho) if np.ndim(rho) == 0 else None
            def at(lag):
                return float(norms[lag] / norms[0]) if lag < len(norms) else float("nan")
            rows.append(dict(cell=cell, stage=stage, rate=fit["rate"], gamma=fit["gamma"],
                             decades_per_100=fit["decades_per_100"],
                             rate_c=None if fit_c is None else fit_c["rate"],
                             rel_10=at(10), rel_50=at(50), rel_end=at(T - 1), lyapunov=lyap,
                             rho=rho, test_mse=mse, trained_steps=trained_steps))
    toy = []
    for w in (1.01, 0.99):
        hT, flow, dh0 = tasks.linear_toy(w, 1000).run()
        toy.append(dict(w=w, T=1000, h_T=hT, expected=w ** 1000, dL_dh0=dh0))
    return dict(T=T, hidden=hidden, batch=batch, seed=seed, train_steps=train_steps,
                gate_bias=gate_bias, rows=rows, curves=curves, toy=toy)


GRADFLOW_HELP = "gradient flow ||dL_T/dh_k|| against lag for SRN, residual SRN, LSTM, GRU (< 1 min)"
GRADFLOW_DESCRIPTION = (
    "Gradient flow ||dL_T/dh_k|| against lag for SRN (tanh), residual SRN, LSTM and GRU on the "
    "same adding-problem batch, at initialization and after training, with fitted decay rates "
    "and Lyapunov exponents; writes gradflow.md, gradflow.csv and (with matplotlib) gradflow.png.")


def _add_output_arguments(p):
    """The options both commands share: where to write, whether to plot, which engine."""
    p.add_argument("--out", default=".", help="output directory (default: current)")
    p.add_argument("--no-plot", action="store_true", help="tables only, no PNG")
    p.add_argument("--backend", choices=["c", "numpy"], default=None,
                   help="engine (default: the current one)")
    return p


def _gate_bias(text):
    """``--gate-bias``: a number, or "pytorch" for PyTorch's initialization (None)."""
    if text.strip().lower() == "pytorch":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'pytorch', got {text!r}") from None


def _add_gate_bias_argument(p):
    p.add_argument("--gate-bias", type=_gate_bias, default=1.0,
                   help="the LSTM's forget-gate bias, set by fastrnn.init.lstm_forget_bias_ "
                        "(default 1.0; 'pytorch' keeps PyTorch's initialization)")


def add_gradflow_arguments(p):
    """Register the ``gradflow`` options on an argparse parser (or subparser).

    Parameters
    ----------
    p : argparse.ArgumentParser

    Returns
    -------
    argparse.ArgumentParser
        ``p``.
    """
    p.add_argument("--T", type=int, default=100, help="sequence length (default 100)")
    p.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")
    p.add_argument("--batch", type=int, default=32, help="sequences (default 32)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--train-steps", type=int, default=1000,
                   help="also measure after training on the adding problem until solved or "
                        "for at most this many steps (default 1000; 0 = initialization only)")
    _add_gate_bias_argument(p)
    p.add_argument("--lyap-seqs", type=int, default=4,
                   help="sequences for the Lyapunov exponent (default 4; 0 skips)")
    return _add_output_arguments(p)


def cmd_gradflow(a):
    """Run ``gradflow`` from parsed arguments and write its outputs.

    Parameters
    ----------
    a : argparse.Namespace
        As :func:`add_gradflow_arguments` defines it.

    Returns
    -------
    int
        The exit code, 0.
    """
    if a.backend:
        set_backend(a.backend)
    start = time.time()
    with _limit_threads():
        res = run_gradflow(a.T, a.hidden, a.batch, a.seed, a.train_steps, a.gate_bias,
                           a.lyap_seqs)
    text, paths = write_gradflow(res, a.out, plot=not a.no_plot)
    print(text)
    if not a.no_plot and figure_backend() is None:
        print("(matplotlib is not installed: tables only; pip install \"fastrnn[lab]\")")
    print("wrote " + ", ".join(paths) + f" in {time.time() - start:.1f} s")
    return 0


def main_gradflow(argv=None):
    """``python -m fastrnn gradflow [options]`` (see ``--help``).

    Parameters
    ----------
    argv : list of str, optional
        The options (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code.
    """
    p = argparse.ArgumentParser(prog="python -m fastrnn gradflow",
                                description=GRADFLOW_DESCRIPTION)
    return cmd_gradflow(add_gradflow_arguments(p).parse_args(argv))


# --- lag ---------------------------------------------------------------------------

def _lag_job(args):
    backend, kw = args
    set_backend(backend)
    with _limit_threads():
        r = train_adding(**kw)
    return {k: v for k, v in r.items() if k not in ("losses", "grad_norms")}


def run_lag(lags=DEFAULT_LAGS, cells=("srn", "lstm", "gru"), seeds=(0, 1), steps=1000,
            clips=(1.0, None), jobs=1, **train_kw):
    """Every (cell, lag, seed, clip) run of :func:`train_adding` on the current engine.

    Parameters
    ----------
    lags : tuple of int, default DEFAULT_LAGS
        Sequence lengths T.
    cells : tuple of str, default ("srn", "lstm", "gru")
    seeds : iterable of int, default (0, 1)
    steps : int, default 1000
        The training budget.
    clips : tuple of (float or None), default (1.0, None)
        Max global gradient norms; None trains unclipped.
    jobs : int, default 1
        Worker processes; the results do not depend on it.
    **train_kw
        More :func:`train_adding` arguments (``hidden``, ``batch``, ``lr``, ...).

    Returns
    -------
    list of dict
        :func:`train_adding`'s results without ``losses`` and ``grad_norms``,
        ordered by clip, cell, lag, seed.
    """
    backend = get_backend()
    todo = [(backend, dict(cell=c, T=T, steps=steps, seed=s, clip=clip, **train_kw))
            for clip in clips for c in cells for T in lags for s in seeds]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(_lag_job, todo))
    return [_lag_job(t) for t in todo]


def run_explode(rho=1.5, T=50, steps=200, lr=0.1, seed=0, hidden=32, batch=32, clip=1.0):
    """An SRN (tanh) with ``W_hh`` at spectral radius ``rho`` trained by plain SGD,
    unclipped and clipped at global norm ``clip``.

    Parameters
    ----------
    rho : float, default 1.5
    T, steps : int, default 50 and 200
    lr : float, default 0.1
    seed, hidden, batch : int
    clip : float, default 1.0

    Returns
    -------
    dict
        ``"unclipped"`` and ``"clipped"``: :func:`train_adding` results with
        per-step ``losses`` and ``grad_norms``; ``"lyapunov"``: the largest
        Lyapunov exponent of the initial trajectory; ``"rho"``.
    """
    out = {}
    for name, c in (("unclipped", None), ("clipped", clip)):
        out[name] = train_adding("srn", T, steps, seed=seed, hidden=hidden, batch=batch, lr=lr,
                                 optimizer="sgd", clip=c, rho=rho, stop_early=False,
                                 eval_every=steps)
    layer = make_cell("srn", 2, hidden, seed, rho=rho)
    x = tasks.adding_problem(4, T, seed=[seed, T, 2]).x
    out["lyapunov"] = float(np.mean(dg.lyapunov_exponents(dg.step_jacobians(layer, x), num=1)))
    out["rho"] = rho
    return out


LAG_HELP = "adding-problem success rate against lag, with and without clipping (minutes)"
LAG_DESCRIPTION = (
    "Success rate of SRN, LSTM and GRU on the adding problem against sequence length under one "
    "training budget, with and without gradient clipping, and a spectral-radius > 1 SRN trained "
    "by SGD unclipped vs clipped; writes lag.md, lag.csv and (with matplotlib) lag.png and "
    "explode.png. The defaults take a few minutes on 2 cores; --full is the full study.")


def add_lag_arguments(p):
    """Register the ``lag`` options on an argparse parser (or subparser).

    Parameters
    ----------
    p : argparse.ArgumentParser

    Returns
    -------
    argparse.ArgumentParser
        ``p``.
    """
    p.add_argument("--lags", default=",".join(map(str, DEFAULT_LAGS)),
                   help="comma-separated sequence lengths (default 10,20,50,100,200)")
    p.add_argument("--cells", default="srn,lstm,gru",
                   help="comma-separated cells among srn, residual, lstm, gru "
                        "(default srn,lstm,gru)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per point (default 2)")
    p.add_argument("--steps", type=int, default=1000, help="training steps budget (default 1000)")
    p.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 0.01)")
    p.add_argument("--clip", type=float, default=1.0, help="max global gradient norm (default 1)")
    p.add_argument("--no-unclipped", action="store_true", help="skip the unclipped runs")
    p.add_argument("--threshold", type=float, default=0.1,
                   help="success: test MSE below this fraction of the baseline 1/6 (default 0.1)")
    _add_gate_bias_argument(p)
    p.add_argument("--rho", type=float, default=1.5,
                   help="spectral radius of the exploding SRN (default 1.5)")
    p.add_argument("--explode-T", type=int, default=50,
                   help="sequence length of the exploding run (default 50)")
    p.add_argument("--explode-steps", type=int, default=200,
                   help="SGD steps of the exploding run (default 200)")
    p.add_argument("--explode-lr", type=float, default=0.1, help="its SGD learning rate (default 0.1)")
    p.add_argument("--full", action="store_true",
                   help="the full study: 5 seeds, 2000 steps, cells srn,residual,lstm,gru")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes (default: the CPUs available)")
    return _add_output_arguments(p)


def cmd_lag(a):
    """Run ``lag`` from parsed arguments and write its outputs.

    Parameters
    ----------
    a : argparse.Namespace
        As :func:`add_lag_arguments` defines it.

    Returns
    -------
    int
        The exit code, 0.

    Raises
    ------
    SystemExit
        For bad ``--lags`` or ``--cells``.
    """
    if a.backend:
        set_backend(a.backend)
    if a.full:
        a.seeds, a.steps, a.cells = max(a.seeds, 5), max(a.steps, 2000), "srn,residual,lstm,gru"
    try:
        lags = [int(v) for v in a.lags.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"--lags: expected comma-separated integers, got {a.lags!r}")
    cells = [c.strip() for c in a.cells.split(",") if c.strip()]
    bad = [c for c in cells if c not in CELL_LABELS]
    if bad or not cells or not lags or min(lags) < 2:
        raise SystemExit(f"--cells/--lags: expected cells among {', '.join(CELL_LABELS)} and "
                         f"lengths >= 2, got {a.cells!r} and {a.lags!r}")
    if a.jobs is None:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        a.jobs = len(cpus) if cpus else (os.cpu_count() or 1)
    clips = (a.clip,) if a.no_unclipped else (a.clip, None)
    start = time.time()
    results = run_lag(lags, cells, range(a.seeds), a.steps, clips, jobs=max(1, a.jobs),
                      hidden=a.hidden, batch=a.batch, lr=a.lr, threshold=a.threshold,
                      gate_bias=a.gate_bias)
    with _limit_threads():
        explode = run_explode(a.rho, a.explode_T, a.explode_steps, a.explode_lr, seed=0,
                              hidden=a.hidden, batch=a.batch, clip=a.clip)
    cfg = dict(threshold=a.threshold, steps=a.steps, batch=a.batch, lr=a.lr, hidden=a.hidden,
               gate_bias=a.gate_bias, clip=a.clip, explode_lr=a.explode_lr,
               explode_T=a.explode_T)
    text, paths = write_lag(results, explode, cfg, a.out, plot=not a.no_plot)
    print(text)
    if not a.no_plot and figure_backend() is None:
        print("(matplotlib is not installed: tables only; pip install \"fastrnn[lab]\")")
    print("wrote " + ", ".join(paths) + f" in {time.time() - start:.1f} s")
    return 0


def main_lag(argv=None):
    """``python -m fastrnn lag [options]`` (see ``--help``).

    Parameters
    ----------
    argv : list of str, optional
        The options (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code.
    """
    p = argparse.ArgumentParser(prog="python -m fastrnn lag", description=LAG_DESCRIPTION)
    return cmd_lag(add_lag_arguments(p).parse_args(argv))

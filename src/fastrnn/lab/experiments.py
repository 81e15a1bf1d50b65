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

Both write a Markdown table (``*.md``), a CSV and, when matplotlib is
installed (``pip install "fastrnn[lab]"``), PNG figures. The training loop here
is deliberately small and self-contained: a linear readout of the last
hidden state, mean squared error, Adam or SGD, and global-norm clipping over
every parameter, written out below.
"""

import argparse
import contextlib
import csv
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from . import diagnostics as dg
from . import tasks
from ..core.backend import get_backend, get_engine, set_backend
from ..core.layers import GRU, LSTM, SRN
from ..core.storage import mark_written

__all__ = ["make_cell", "train_adding", "clip_global_norm", "run_gradflow", "run_lag",
           "run_explode", "add_gradflow_arguments", "cmd_gradflow", "main_gradflow",
           "add_lag_arguments", "cmd_lag", "main_lag", "CELL_LABELS"]

CELL_LABELS = {"srn": "SRN (tanh)", "residual": "residual SRN", "lstm": "LSTM", "gru": "GRU"}
DEFAULT_LAGS = (10, 20, 50, 100, 200)


# =============================================================================
# models, a readout, an optimizer, clipping
# =============================================================================

def make_cell(cell, input_size, hidden_size, seed, dtype=np.float64, gate_bias=1.0, rho=None):
    """A one-layer layer of ``cell`` ("srn", "residual", "lstm", "gru"), PyTorch's init.

    ``gate_bias`` is added to the LSTM's forget-gate bias (the usual +1 of Gers
    et al. 2000 and Jozefowicz et al. 2015; 0 keeps PyTorch's init).
    ``rho``: rescale ``W_hh`` (SRN cells) to that spectral radius.
    """
    if cell in ("srn", "residual"):
        layer = SRN(input_size, hidden_size, residual=cell == "residual", dtype=dtype, seed=seed)
    elif cell == "lstm":
        layer = LSTM(input_size, hidden_size, dtype=dtype, seed=seed)
        H = hidden_size
        layer.params["bias_hh_l0"][H:2 * H] += gate_bias
    elif cell == "gru":
        layer = GRU(input_size, hidden_size, dtype=dtype, seed=seed)
    else:
        raise ValueError(f"cell: expected one of {tuple(CELL_LABELS)}, got {cell!r}")
    if rho is not None:
        if layer.hidden_size != layer.params["weight_hh_l0"].shape[0]:
            raise ValueError("rho: only for the SRN cells")
        W = np.random.default_rng(seed).standard_normal((hidden_size, hidden_size))
        layer.params["weight_hh_l0"][...] = W * (rho / dg.spectral_radius(W))
    layer.mark_params_changed()       # the in-place writes above
    return layer


class _Model:
    """``pred = W_out h_T + b_out`` on top of a layer; every parameter in ``self.params``."""

    def __init__(self, layer, outputs, seed):
        H, dtype = layer.hidden_size, layer.dtype
        rng = np.random.default_rng(seed + 7919)
        self.layer = layer
        self.W_out = (rng.uniform(-1, 1, (outputs, H)) / np.sqrt(H)).astype(dtype)
        self.b_out = np.zeros(outputs, dtype=dtype)
        self.params = [layer.params_flat, self.W_out, self.b_out]

    def predict(self, x):
        y, _ = self.layer.forward(x, train=False)
        return y[-1] @ self.W_out.T + self.b_out

    def loss_and_grads(self, x, target):
        """MSE at the last step; returns (loss, grads in the order of params)."""
        y, _ = self.layer.forward(x, train=True)
        hT = y[-1]
        err = hT @ self.W_out.T + self.b_out - target
        loss = float(np.mean(err.astype(np.float64) ** 2))
        dpred = (2.0 / err.size) * err
        dy = np.zeros_like(y)
        dy[-1] = dpred @ self.W_out
        self.layer.zero_grad()
        self.layer.backward(dy)
        return loss, [self.layer.grads_flat, dpred.T @ hT, dpred.sum(axis=0)]


def clip_global_norm(grads, max_norm):
    """Scale every gradient in place by ``min(1, max_norm / ||g||)``, ``||g||`` over all
    of them (Pascanu et al. 2013); returns the norm before clipping (inf/NaN kept)."""
    with np.errstate(over="ignore", invalid="ignore"):
        norm = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads)))
    if max_norm is not None and np.isfinite(norm) and norm > max_norm:
        for g in grads:
            g *= max_norm / norm
    return norm


class _Adam:
    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, betas[0], betas[1], eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
            mark_written(p)           # the layer's params_flat: bump its param_version


class _SGD:
    def __init__(self, params, lr):
        self.params, self.lr = params, lr

    def step(self, grads):
        for p, g in zip(self.params, grads):
            p -= self.lr * g
            mark_written(p)


def train_adding(cell, T, steps, seed=0, hidden=32, batch=32, lr=1e-2, optimizer="adam",
                 clip=1.0, threshold=0.1, eval_every=50, test_size=256, dtype=np.float32,
                 gate_bias=1.0, rho=None, stop_early=True, return_model=False):
    """Train ``cell`` on the adding problem at sequence length ``T`` for ``steps`` batches.

    Success: the test mean squared error (``test_size`` fresh sequences) falls
    below ``threshold`` times the baseline 1/6 (the model explains at least
    ``1 - threshold`` of the target variance) at an evaluation within the
    budget; with ``stop_early`` training stops there. ``clip``: max global
    gradient norm, or None for no clipping. The data stream depends on
    ``(seed, T)`` only, so every cell sees the same batches. Returns a dict
    with ``success``, ``steps_to_success``, ``test_mse``, ``diverged``
    (a non-finite loss), ``losses`` and ``grad_norms`` per step, and with
    ``return_model`` the trained ``model`` (``model.layer`` is the layer).
    """
    layer = make_cell(cell, 2, hidden, seed, dtype=dtype, gate_bias=gate_bias, rho=rho)
    model = _Model(layer, 1, seed)
    opt = _Adam(model.params, lr) if optimizer == "adam" else _SGD(model.params, lr)
    stream = np.random.default_rng([seed, T, 1])
    test = tasks.adding_problem(test_size, T, seed=[seed, T, 2], dtype=dtype)
    target = 1.0 / 6.0 * threshold
    losses, norms = [], []
    success_at, test_mse, diverged = None, float("nan"), False
    with np.errstate(all="ignore"):
        for step in range(1, steps + 1):
            task = tasks.adding_problem(batch, T, seed=stream, dtype=dtype)
            loss, grads = model.loss_and_grads(task.x, task.y)
            norm = clip_global_norm(grads, clip)
            losses.append(loss)
            norms.append(norm)
            if not (np.isfinite(loss) and np.isfinite(norm)):
                diverged = True
                break
            opt.step(grads)
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


# =============================================================================
# output helpers
# =============================================================================

def _limit_threads():
    """A context with one BLAS thread (threadpoolctl, when installed): the matrices here
    are tiny and threads only contend, worse with several worker processes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    get_engine()  # load the engine (and the BLAS it links) first: only loaded ones are limited
    return threadpool_limits(1)


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg


def _save(fig, canvas_cls, path):
    canvas_cls(fig)
    fig.savefig(path, dpi=110)
    return path


def _markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _fmt(v, spec=".3g"):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return format(v, spec)


# =============================================================================
# gradflow
# =============================================================================

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
    Returns a dict: ``T``, ``rows`` (one per cell and stage), ``curves``
    {(cell, stage): (lags, norms)}, ``toy`` (the one-unit recurrence).
    """
    data = tasks.adding_problem(batch, T, seed=[seed, T, 3], dtype=np.float64)
    stages = ["init"] + (["trained"] if train_steps else [])
    rows, curves = [], {}
    for cell in cells:
        for stage in stages:
            layer = make_cell(cell, 2, hidden, seed, dtype=np.float64, gate_bias=gate_bias)
            if stage == "trained":
                r = train_adding(cell, T, train_steps, seed=seed, hidden=hidden, batch=batch,
                                 lr=lr, dtype=np.float64, gate_bias=gate_bias,
                                 return_model=True)
                layer, mse = r["model"].layer, r["test_mse"]
                trained_steps = r["steps"]
            else:
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
            rho = dg.spectral_radius(layer.params["weight_hh_l0"])
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


def _gradflow_outputs(res, out, plot=True):
    header = ["cell", "weights", "fitted rate / step", "gamma = e^rate", "decades / 100 steps",
              "rel. norm at lag 10", "at lag 50", f"at lag {res['T'] - 1}",
              "largest Lyapunov exp.", "rho(W_hh)"]
    rows = []
    for r in res["rows"]:
        stage = "init" if r["stage"] == "init" else \
            f"trained {r['trained_steps']} steps (test MSE {r['test_mse']:.3g})"
        rate = _fmt(r["rate"], ".4f") + (f" (c: {_fmt(r['rate_c'], '.4f')})"
                                         if r["rate_c"] is not None else "")
        rows.append([CELL_LABELS[r["cell"]], stage, rate, _fmt(r["gamma"], ".4f"),
                     _fmt(r["decades_per_100"], ".2f"), _fmt(r["rel_10"]), _fmt(r["rel_50"]),
                     _fmt(r["rel_end"]), _fmt(r["lyapunov"], ".4f"), _fmt(r["rho"], ".3f")])
    toy_rows = [[f"w = {t['w']}", t["T"], _fmt(t["h_T"], ".6g"), _fmt(t["expected"], ".6g"),
                 _fmt(t["dL_dh0"], ".6g")] for t in res["toy"]]
    text = (f"# gradflow: ||dL_T/dh_k|| against lag T-k\n\n"
            f"T = {res['T']}, hidden = {res['hidden']}, batch = {res['batch']}, "
            f"seed = {res['seed']}, LSTM forget-gate bias +{res['gate_bias']}, "
            f"engine = {get_backend()}. Norms relative to lag 0, geometric mean over the batch.\n\n"
            + _markdown_table(header, rows)
            + "\n\nThe one-unit linear toy h_t = w h_{t-1}, h_0 = 1, run on the engine:\n\n"
            + _markdown_table(["toy", "T", "h_T (engine)", "w^T", "dh_T/dh_0 (engine BPTT)"],
                              toy_rows) + "\n")
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, "gradflow.md")]
    with open(paths[0], "w") as fh:
        fh.write(text)
    curve_rows = []
    for (cell, stage), (lags, norms) in res["curves"].items():
        curve_rows += [[cell, stage, int(l), repr(float(v))] for l, v in zip(lags, norms)]
    paths.append(_write_csv(os.path.join(out, "gradflow.csv"),
                            ["cell", "stage", "lag", "norm_geomean"], curve_rows))
    mpl = _matplotlib() if plot else None
    if mpl is not None:
        Figure, Canvas = mpl
        stages = sorted({s for _, s in res["curves"]}, key=["init", "trained"].index)
        fig = Figure(figsize=(6.2 * len(stages), 4.4))
        colors = {"srn": "C3", "residual": "C2", "lstm": "C0", "gru": "C1"}
        for i, stage in enumerate(stages):
            ax = fig.add_subplot(1, len(stages), i + 1)
            for r in res["rows"]:
                if r["stage"] != stage:
                    continue
                lags, norms = res["curves"][(r["cell"], stage)]
                with np.errstate(divide="ignore"):
                    ax.plot(lags, np.log10(norms / norms[0]), color=colors[r["cell"]],
                            label=f"{CELL_LABELS[r['cell']]}: rate {r['rate']:+.3f}/step"
                            + ("" if stage == "init" else
                               f" ({r['trained_steps']} steps, MSE {r['test_mse']:.2g})"))
            ax.set_xlabel("lag T - k (steps)")
            ax.set_ylabel("log10 ||dL_T/dh_k|| / ||dL_T/dh_T||")
            title = "at initialization" if stage == "init" else \
                f"after training on the adding problem (<= {res['train_steps']} steps)"
            ax.set_title(f"gradient flow, {title}", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, Canvas, os.path.join(out, "gradflow.png")))
    return text, paths


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


def add_gradflow_arguments(p):
    """Register the ``gradflow`` options on an argparse parser (or subparser); returns it."""
    p.add_argument("--T", type=int, default=100, help="sequence length (default 100)")
    p.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")
    p.add_argument("--batch", type=int, default=32, help="sequences (default 32)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--train-steps", type=int, default=1000,
                   help="also measure after training on the adding problem until solved or "
                        "for at most this many steps (default 1000; 0 = initialization only)")
    p.add_argument("--gate-bias", type=float, default=1.0,
                   help="added to the LSTM forget-gate bias (default 1.0; 0 = PyTorch's init)")
    p.add_argument("--lyap-seqs", type=int, default=4,
                   help="sequences for the Lyapunov exponent (default 4; 0 skips)")
    return _add_output_arguments(p)


def cmd_gradflow(a):
    """Run ``gradflow`` from parsed arguments (see :func:`add_gradflow_arguments`)."""
    if a.backend:
        set_backend(a.backend)
    start = time.time()
    with _limit_threads():
        res = run_gradflow(a.T, a.hidden, a.batch, a.seed, a.train_steps, a.gate_bias,
                           a.lyap_seqs)
    text, paths = _gradflow_outputs(res, a.out, plot=not a.no_plot)
    print(text)
    if not a.no_plot and _matplotlib() is None:
        print("(matplotlib is not installed: tables only; pip install \"fastrnn[lab]\")")
    print("wrote " + ", ".join(paths) + f" in {time.time() - start:.1f} s")
    return 0


def main_gradflow(argv=None):
    """``python -m fastrnn gradflow [options]``: see ``--help``. Returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m fastrnn gradflow",
                                description=GRADFLOW_DESCRIPTION)
    return cmd_gradflow(add_gradflow_arguments(p).parse_args(argv))


# =============================================================================
# lag
# =============================================================================

def _lag_job(args):
    backend, kw = args
    set_backend(backend)
    with _limit_threads():
        r = train_adding(**kw)
    return {k: v for k, v in r.items() if k not in ("losses", "grad_norms")}


def run_lag(lags=DEFAULT_LAGS, cells=("srn", "lstm", "gru"), seeds=(0, 1), steps=1000,
            clips=(1.0, None), jobs=1, **train_kw):
    """Every (cell, lag, seed, clip) run of :func:`train_adding`; a list of result dicts
    (without the per-step histories), in a fixed order whatever ``jobs`` is."""
    backend = get_backend()
    todo = [(backend, dict(cell=c, T=T, steps=steps, seed=s, clip=clip, **train_kw))
            for clip in clips for c in cells for T in lags for s in seeds]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(_lag_job, todo))
    return [_lag_job(t) for t in todo]


def run_explode(rho=1.5, T=50, steps=200, lr=0.1, seed=0, hidden=32, batch=32, clip=1.0):
    """An SRN (tanh) with ``W_hh`` at spectral radius ``rho``, plain SGD, unclipped and
    clipped at global norm ``clip``; returns {"unclipped": result, "clipped": result}
    (results of :func:`train_adding`, with per-step ``losses`` and ``grad_norms``)
    plus the initial largest Lyapunov exponent of the trajectory."""
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


def _lag_outputs(results, explode, cfg, out, plot=True):
    cells = list(dict.fromkeys(r["cell"] for r in results))
    lags = sorted({r["T"] for r in results})
    clips = list(dict.fromkeys(r["clip"] for r in results))
    def label(clip):
        return "unclipped" if clip is None else f"clip {clip:g}"
    header = ["cell", "clipping"] + [f"T={T}" for T in lags]
    rows, rate = [], {}
    for clip in clips:
        for c in cells:
            row = [CELL_LABELS[c], label(clip)]
            for T in lags:
                rs = [r for r in results if r["cell"] == c and r["T"] == T and r["clip"] == clip]
                ok = sum(r["success"] for r in rs)
                rate[(c, clip, T)] = ok / len(rs)
                med = [r["steps_to_success"] for r in rs if r["success"]]
                extra = f" ({int(np.median(med))})" if med else ""
                div = sum(r["diverged"] for r in rs)
                row.append(f"{ok}/{len(rs)}{extra}" + (f", {div} diverged" if div else ""))
            rows.append(row)
    un, cl = explode["unclipped"], explode["clipped"]
    def final(r):
        return "non-finite at step %d" % r["steps"] if r["diverged"] else \
            "loss %.3g after %d steps" % (float(np.mean(r["losses"][-10:])), r["steps"])
    text = (f"# lag: success on the adding problem against sequence length T\n\n"
            f"Successful seeds / seeds (median steps to success). Success: test MSE < "
            f"{cfg['threshold']:g} x 1/6 within {cfg['steps']} steps of batch {cfg['batch']} "
            f"(Adam, lr {cfg['lr']:g}), hidden {cfg['hidden']}, LSTM forget-gate bias "
            f"+{cfg['gate_bias']:g}, engine {get_backend()}.\n\n"
            + _markdown_table(header, rows)
            + f"\n\nSpectral radius {explode['rho']:g} SRN (tanh), plain SGD lr {cfg['explode_lr']:g}, "
            f"T = {cfg['explode_T']} (largest Lyapunov exponent at init "
            f"{explode['lyapunov']:+.3f}/step):\n\n"
            + _markdown_table(["run", "outcome", "largest gradient norm"],
                              [["unclipped", final(un), _fmt(float(np.nanmax(un["grad_norms"])))],
                               [f"clipped at {cfg['clip']:g}", final(cl),
                                _fmt(float(np.nanmax(cl["grad_norms"])))]]) + "\n")
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, "lag.md")]
    with open(paths[0], "w") as fh:
        fh.write(text)
    keys = ["cell", "T", "seed", "clip", "success", "steps_to_success", "test_mse", "diverged",
            "steps"]
    paths.append(_write_csv(os.path.join(out, "lag.csv"), keys,
                            [[r[k] for k in keys] for r in results]))
    mpl = _matplotlib() if plot else None
    if mpl is not None:
        Figure, Canvas = mpl
        colors = {"srn": "C3", "residual": "C2", "lstm": "C0", "gru": "C1"}
        fig = Figure(figsize=(8.6, 4.4))
        ax = fig.add_subplot(1, 1, 1)
        for i, clip in enumerate(clips):
            for j, c in enumerate(cells):
                # a small vertical offset per line keeps coinciding curves visible
                off = 0.012 * (j - (len(cells) - 1) / 2) - 0.025 * i
                ax.plot(lags, [rate[(c, clip, T)] + off for T in lags], marker="o",
                        color=colors[c], linestyle="-" if clip is not None else "--",
                        markerfacecolor="white" if clip is None else colors[c],
                        label=f"{CELL_LABELS[c]}, {label(clip)}")
        ax.set_xscale("log")
        ax.set_xticks(lags)
        ax.set_xticklabels([str(T) for T in lags])
        ax.set_ylim(-0.08, 1.05)
        ax.set_xlabel("sequence length T (first marked number > T/2 steps back)")
        ax.set_ylabel("fraction of seeds solved")
        ax.set_title(f"adding problem, {cfg['steps']} steps budget, "
                     f"{len({r['seed'] for r in results})} seeds", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        paths.append(_save(fig, Canvas, os.path.join(out, "lag.png")))
        fig = Figure(figsize=(10, 3.8))
        for i, (key, ylabel) in enumerate((("losses", "training loss (MSE)"),
                                           ("grad_norms", "gradient norm before clipping"))):
            ax = fig.add_subplot(1, 2, i + 1)
            for name, color in (("unclipped", "C3"), ("clipped", "C0")):
                v = np.asarray(explode[name][key], dtype=np.float64)
                ax.plot(np.arange(1, len(v) + 1), v, color=color, label=name)
                if explode[name]["diverged"]:
                    ax.axvline(len(v), color=color, linestyle=":", label=f"{name}: non-finite")
            ax.set_yscale("log")
            ax.set_xlabel("training step")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"SRN with spectral radius {explode['rho']:g}: plain SGD, unclipped vs "
                     f"clipped at {cfg['clip']:g}", fontsize=10)
        fig.tight_layout()
        paths.append(_save(fig, Canvas, os.path.join(out, "explode.png")))
    return text, paths


LAG_HELP = "adding-problem success rate against lag, with and without clipping (minutes)"
LAG_DESCRIPTION = (
    "Success rate of SRN, LSTM and GRU on the adding problem against sequence length under one "
    "training budget, with and without gradient clipping, and a spectral-radius > 1 SRN trained "
    "by SGD unclipped vs clipped; writes lag.md, lag.csv and (with matplotlib) lag.png and "
    "explode.png. The defaults take a few minutes on 2 cores; --full is the full study.")


def add_lag_arguments(p):
    """Register the ``lag`` options on an argparse parser (or subparser); returns it."""
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
    p.add_argument("--gate-bias", type=float, default=1.0,
                   help="added to the LSTM forget-gate bias (default 1.0)")
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
    """Run ``lag`` from parsed arguments (see :func:`add_lag_arguments`)."""
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
    text, paths = _lag_outputs(results, explode, cfg, a.out, plot=not a.no_plot)
    print(text)
    if not a.no_plot and _matplotlib() is None:
        print("(matplotlib is not installed: tables only; pip install \"fastrnn[lab]\")")
    print("wrote " + ", ".join(paths) + f" in {time.time() - start:.1f} s")
    return 0


def main_lag(argv=None):
    """``python -m fastrnn lag [options]``: see ``--help``. Returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m fastrnn lag", description=LAG_DESCRIPTION)
    return cmd_lag(add_lag_arguments(p).parse_args(argv))

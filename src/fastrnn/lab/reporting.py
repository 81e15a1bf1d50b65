"""The lab's outputs: Markdown tables, CSV files and (with matplotlib) PNG figures.

``write_gradflow`` and ``write_lag`` turn the results of
``fastrnn.experiments.run_gradflow`` / ``run_lag`` and ``run_explode`` into
the files the ``gradflow`` and ``lag`` commands write. matplotlib is optional
(``pip install "fastrnn[lab]"``): without it only the tables are written.
"""

import csv
import os

import numpy as np

from ..core.backend import get_backend
from .training import CELL_LABELS

__all__ = ["figure_backend", "save_figure", "markdown_table", "write_csv", "fmt",
           "write_gradflow", "write_lag"]

COLORS = {"srn": "C3", "residual": "C2", "lstm": "C0", "gru": "C1"}


def figure_backend():
    """matplotlib's ``(Figure, FigureCanvasAgg)`` classes, or None when it is not installed.

    Returns
    -------
    tuple of two classes, or None
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg


def save_figure(fig, canvas_cls, path):
    """Render ``fig`` with the Agg canvas and save it as a PNG at 110 dpi.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    canvas_cls : type
        ``FigureCanvasAgg`` (see :func:`figure_backend`).
    path : str

    Returns
    -------
    str
        ``path``.
    """
    canvas_cls(fig)
    fig.savefig(path, dpi=110)
    return path


def markdown_table(header, rows):
    """A Markdown table.

    Parameters
    ----------
    header : list of str
    rows : list of list
        Cells are formatted with ``str``.

    Returns
    -------
    str

    Examples
    --------
    >>> print(markdown_table(["a", "b"], [[1, 2]]))
    | a | b |
    |---|---|
    | 1 | 2 |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(path, header, rows):
    """Write a CSV file with a header row.

    Parameters
    ----------
    path : str
    header : list of str
    rows : list of list

    Returns
    -------
    str
        ``path``.
    """
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def fmt(v, spec=".3g"):
    """``format(v, spec)``, or "-" for None and NaN.

    Parameters
    ----------
    v : number or None
    spec : str, default ".3g"

    Returns
    -------
    str

    Examples
    --------
    >>> fmt(0.123456), fmt(None), fmt(float("nan"))
    ('0.123', '-', '-')
    """
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return format(v, spec)


def _forget_bias(gate_bias):
    if gate_bias is None:
        return "LSTM forget-gate bias as PyTorch initializes it"
    return f"LSTM forget-gate bias {gate_bias:g}"


def _largest_norm(norms):
    """The largest finite gradient norm of a run, and whether a non-finite one followed
    (a float32 norm overflows past ~1.8e19 even while every gradient entry is finite)."""
    norms = np.asarray(norms, dtype=np.float64)
    finite = norms[np.isfinite(norms)]
    text = fmt(float(finite.max())) if finite.size else "-"
    return text if finite.size == norms.size else text + ", then non-finite"


def write_gradflow(res, out, plot=True):
    """Write ``gradflow.md``, ``gradflow.csv`` and (with matplotlib) ``gradflow.png``.

    Parameters
    ----------
    res : dict
        What ``fastrnn.experiments.run_gradflow`` returns.
    out : str or path
        The output directory (created if missing).
    plot : bool, default True
        Also draw the figure (when matplotlib is installed).

    Returns
    -------
    text : str
        The Markdown report.
    paths : list of str
        The files written.
    """
    header = ["cell", "weights", "fitted rate / step", "gamma = e^rate", "decades / 100 steps",
              "rel. norm at lag 10", "at lag 50", f"at lag {res['T'] - 1}",
              "largest Lyapunov exp.", "rho(W_hh)"]
    rows = []
    for r in res["rows"]:
        stage = "init" if r["stage"] == "init" else \
            f"trained {r['trained_steps']} steps (test MSE {r['test_mse']:.3g})"
        rate = fmt(r["rate"], ".4f") + (f" (c: {fmt(r['rate_c'], '.4f')})"
                                         if r["rate_c"] is not None else "")
        rows.append([CELL_LABELS[r["cell"]], stage, rate, fmt(r["gamma"], ".4f"),
                     fmt(r["decades_per_100"], ".2f"), fmt(r["rel_10"]), fmt(r["rel_50"]),
                     fmt(r["rel_end"]), fmt(r["lyapunov"], ".4f"), fmt(r["rho"], ".3f")])
    toy_rows = [[f"w = {t['w']}", t["T"], fmt(t["h_T"], ".6g"), fmt(t["expected"], ".6g"),
                 fmt(t["dL_dh0"], ".6g")] for t in res["toy"]]
    text = (f"# gradflow: ||dL_T/dh_k|| against lag T-k\n\n"
            f"T = {res['T']}, hidden = {res['hidden']}, batch = {res['batch']}, "
            f"seed = {res['seed']}, {_forget_bias(res['gate_bias'])}, "
            f"engine = {get_backend()}. Norms relative to lag 0, geometric mean over the batch.\n\n"
            + markdown_table(header, rows)
            + "\n\nThe one-unit linear toy h_t = w h_{t-1}, h_0 = 1, run on the engine:\n\n"
            + markdown_table(["toy", "T", "h_T (engine)", "w^T", "dh_T/dh_0 (engine BPTT)"],
                              toy_rows) + "\n")
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, "gradflow.md")]
    with open(paths[0], "w") as fh:
        fh.write(text)
    curve_rows = []
    for (cell, stage), (lags, norms) in res["curves"].items():
        curve_rows += [[cell, stage, int(l), repr(float(v))] for l, v in zip(lags, norms)]
    paths.append(write_csv(os.path.join(out, "gradflow.csv"),
                            ["cell", "stage", "lag", "norm_geomean"], curve_rows))
    mpl = figure_backend() if plot else None
    if mpl is not None:
        Figure, Canvas = mpl
        stages = sorted({s for _, s in res["curves"]}, key=["init", "trained"].index)
        fig = Figure(figsize=(6.2 * len(stages), 4.4))
        for i, stage in enumerate(stages):
            ax = fig.add_subplot(1, len(stages), i + 1)
            for r in res["rows"]:
                if r["stage"] != stage:
                    continue
                lags, norms = res["curves"][(r["cell"], stage)]
                with np.errstate(divide="ignore"):
                    ax.plot(lags, np.log10(norms / norms[0]), color=COLORS[r["cell"]],
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
        paths.append(save_figure(fig, Canvas, os.path.join(out, "gradflow.png")))
    return text, paths


def write_lag(results, explode, cfg, out, plot=True):
    """Write ``lag.md``, ``lag.csv`` and (with matplotlib) ``lag.png`` and ``explode.png``.

    Parameters
    ----------
    results : list of dict
        What ``fastrnn.experiments.run_lag`` returns.
    explode : dict
        What ``fastrnn.experiments.run_explode`` returns.
    cfg : dict
        The settings the report states: ``threshold``, ``steps``, ``batch``,
        ``lr``, ``hidden``, ``gate_bias``, ``clip``, ``explode_lr``, ``explode_T``.
    out : str or path
        The output directory (created if missing).
    plot : bool, default True
        Also draw the figures (when matplotlib is installed).

    Returns
    -------
    text : str
        The Markdown report.
    paths : list of str
        The files written.
    """
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
            f"(Adam, lr {cfg['lr']:g}), hidden {cfg['hidden']}, {_forget_bias(cfg['gate_bias'])}, "
            f"engine {get_backend()}.\n\n"
            + markdown_table(header, rows)
            + f"\n\nSpectral radius {explode['rho']:g} SRN (tanh), plain SGD lr {cfg['explode_lr']:g}, "
            f"T = {cfg['explode_T']} (largest Lyapunov exponent at init "
            f"{explode['lyapunov']:+.3f}/step):\n\n"
            + markdown_table(["run", "outcome", "largest gradient norm"],
                              [["unclipped", final(un), _largest_norm(un["grad_norms"])],
                               [f"clipped at {cfg['clip']:g}", final(cl),
                                _largest_norm(cl["grad_norms"])]]) + "\n")
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, "lag.md")]
    with open(paths[0], "w") as fh:
        fh.write(text)
    keys = ["cell", "T", "seed", "clip", "success", "steps_to_success", "test_mse", "diverged",
            "steps"]
    paths.append(write_csv(os.path.join(out, "lag.csv"), keys,
                            [[r[k] for k in keys] for r in results]))
    mpl = figure_backend() if plot else None
    if mpl is not None:
        Figure, Canvas = mpl
        fig = Figure(figsize=(8.6, 4.4))
        ax = fig.add_subplot(1, 1, 1)
        for i, clip in enumerate(clips):
            for j, c in enumerate(cells):
                # a small vertical offset per line keeps coinciding curves visible
                off = 0.012 * (j - (len(cells) - 1) / 2) - 0.025 * i
                ax.plot(lags, [rate[(c, clip, T)] + off for T in lags], marker="o",
                        color=COLORS[c], linestyle="-" if clip is not None else "--",
                        markerfacecolor="white" if clip is None else COLORS[c],
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
        paths.append(save_figure(fig, Canvas, os.path.join(out, "lag.png")))
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
        paths.append(save_figure(fig, Canvas, os.path.join(out, "explode.png")))
    return text, paths

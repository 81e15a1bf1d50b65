"""The speed-up plot (ratios.png) of the grid rows, if matplotlib is installed."""

import os

from .fmt import grid_key, latest
from .grid import CELL_LABEL, CELLS, ENGINE_LABEL, MODE_LABEL

def write_plot(path, data):
    """Speed-up bars per (dtype, threads); returns the note for RESULTS.md (or None)."""
    recs = data.table("grid")
    if not recs:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
        import numpy as np
    except ImportError:
        return "(No plot: matplotlib is not installed.)"
    idx = latest(recs, grid_key)
    c_ok = any(r["engine"] == "c" for r in recs)
    series = ([("c", "numpy", "fwd"), ("c", "numpy", "fwdbwd"), ("c", "torch", "fwd"),
               ("c", "torch", "fwdbwd")] if c_ok else
              [("torch", "numpy", "fwd"), ("torch", "numpy", "fwdbwd")])
    panels = sorted({(r["dtype"], r["threads"]) for r in recs})
    keys = sorted({(r["cell"], r["N"], r["T"], r["size"]) for r in recs},
                  key=lambda k: (CELLS.index(k[0]), k[1], k[2]))
    labels = [f"{CELL_LABEL[c]}\n{sn}" for c, _, _, sn in keys]
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8, 0.75 * len(keys) + 2),
                                                      3.2 * len(panels)), squeeze=False)
    width = 0.8 / len(series)
    for ax, (dtype, n) in zip(axes[:, 0], panels):
        for j, (a, b, mode) in enumerate(series):
            vals = []
            for cell, _, _, sn in keys:
                ra, rb = idx.get((cell, sn, dtype, n, mode, a)), idx.get((cell, sn, dtype, n, mode, b))
                vals.append(rb["median_s"] / ra["median_s"] if ra and rb else np.nan)
            xs = np.arange(len(keys)) + (j - (len(series) - 1) / 2) * width
            ax.bar(xs, vals, width, label=f"{ENGINE_LABEL[a]} vs {ENGINE_LABEL[b]}, "
                                          f"{MODE_LABEL[mode]}")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(np.arange(len(keys)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("speed-up (x)")
        ax.set_title(f"{dtype}, {n} thread{'s' if n > 1 else ''}", fontsize=9)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=len(series))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"![speed-up ratios]({os.path.basename(path)})"

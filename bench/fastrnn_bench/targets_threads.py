"""Issue 11's targets: threads, one thread against the build before, a busy machine.

=====================================  ==================================================
target                                 evaluated on
=====================================  ==================================================
2 threads >= 1.0x PyTorch (2 threads)  every cell, size, mode, f32 and f64 (grid rows)
2 threads over 1 thread                >= 1.6x at 100x32x256 and 50x64x512, >= 1.25x at
                                       100x8x128 (fwd and fwd+bwd), >= 0.95x everywhere
1 thread >= 0.97x the build before     every grid row, C engine (``tree-grid`` rows)
busy machine, fastrnn                  <= 2x its quiet time with one competing process,
                                       <= 3x with one per core (``busy`` rows); PyTorch's
                                       and NumPy's factors beside it
=====================================  ==================================================

Each row: group, what (the row's name), measured, required, sense (">=" or
"<="), status (PASS, MISS, or n/a when a number is missing), margin, busy (an
underlying row ran on a busy machine: the status is then not a record).
"""

from .grid import CELL_LABEL, CELLS, DTYPES, MODE_LABEL, MODES
from .targets import ratio

VS_TORCH_2THR = 1.0
SPEEDUP_2_OVER_1 = {"100x32x256": 1.6, "50x64x512": 1.6, "100x8x128": 1.25}
SPEEDUP_2_OVER_1_ANYWHERE = 0.95
VS_BEFORE_1THR = 0.97
BUSY_ONE_COMPETITOR = 2.0      # time with one competing process / quiet time, at most
BUSY_ALL_CORES = 3.0           # with one competing process per core

GROUP_VS_TORCH = "2 threads vs PyTorch with 2 threads (>= 1.0x)"
GROUP_SPEEDUP = "2 threads over 1 thread (C engine)"
GROUP_BEFORE = "1 thread vs the build before (>= 0.97x)"
GROUP_BUSY = "Busy machine: fastrnn's time / its quiet time"


def status(measured, required, sense=">="):
    """(status, margin) of one target."""
    if measured is None:
        return "n/a", "not measured"
    ok = measured >= required if sense == ">=" else measured <= required
    if ok:
        return "PASS", (f"+{100 * (measured / required - 1):.0f}%" if sense == ">="
                        else f"{100 * (1 - measured / required):.0f}% under")
    if sense == ">=":
        return "MISS", (f"{100 * (1 - measured / required):.0f}% short "
                        f"(needs {required / measured:.2f}x more)")
    return "MISS", f"{100 * (measured / required - 1):.0f}% over"


def _row(group, what, measured, required, sense=">=", busy=False, beside=""):
    st, margin = status(measured, required, sense)
    return dict(group=group, what=what, measured=measured, required=required, sense=sense,
                status=st, margin=margin, busy=bool(busy), beside=beside)


def _name(cell, size, dtype, mode):
    return f"{CELL_LABEL[cell]} {size} {dtype} {MODE_LABEL[mode]}"


def _sizes(records):
    n_of = {r["size"]: r["N"] for r in records}
    return sorted(n_of, key=lambda s: (n_of[s], s))


def grid_targets(records):
    """The thread targets on the grid rows (table ``grid``)."""
    idx = {(r["cell"], r["size"], r["dtype"], r["threads"], r["mode"], r["engine"]): r
           for r in records if r.get("table") == "grid"}
    rows = []

    def get(*key):
        return idx.get(key)

    sizes = _sizes([r for r in idx.values()])
    for dtype in DTYPES:
        for size in sizes:
            for cell in CELLS:
                for mode in MODES:
                    c1 = get(cell, size, dtype, 1, mode, "c")
                    c2 = get(cell, size, dtype, 2, mode, "c")
                    t2 = get(cell, size, dtype, 2, mode, "torch")
                    what = _name(cell, size, dtype, mode)
                    if t2 is not None:
                        rows.append(_row(GROUP_VS_TORCH, what,
                                         ratio(t2["median_s"], c2["median_s"] if c2 else None),
                                         VS_TORCH_2THR, busy=any(r and r.get("busy")
                                                                 for r in (c2, t2))))
                    if c1 is not None or c2 is not None:
                        rows.append(_row(GROUP_SPEEDUP, what,
                                         ratio(c1["median_s"] if c1 else None,
                                               c2["median_s"] if c2 else None),
                                         SPEEDUP_2_OVER_1.get(size, SPEEDUP_2_OVER_1_ANYWHERE),
                                         busy=any(r and r.get("busy") for r in (c1, c2))))
    return rows


def before_targets(records):
    """1 thread, today against the first tree (``tree-grid`` rows): t(before) / t(today)."""
    recs = [r for r in records if r.get("table") == "tree-grid"]
    trees = list(dict.fromkeys(r["tree"] for r in recs))
    if len(trees) < 2:
        return []
    base, today = trees[0], trees[-1]
    idx = {(r["tree"], r["cell"], r["size"], r["dtype"], r["mode"]): r for r in recs}
    rows = []
    for dtype in DTYPES:
        for size in _sizes(recs):
            for cell in CELLS:
                for mode in MODES:
                    b, t = idx.get((base, cell, size, dtype, mode)), idx.get((today, cell, size,
                                                                              dtype, mode))
                    if b is None and t is None:
                        continue
                    rows.append(_row(GROUP_BEFORE, _name(cell, size, dtype, mode),
                                     ratio(b["median_s"] if b else None,
                                           t["median_s"] if t else None),
                                     VS_BEFORE_1THR,
                                     busy=any(r and r.get("busy") for r in (b, t))))
    return rows


def busy_targets(records):
    """fastrnn's busy factors (``busy`` rows): <= 2x with one competitor, <= 3x with one per
    core; NumPy's and PyTorch's factors of the same row beside."""
    recs = [r for r in records if r.get("table") == "busy"]
    idx = {(r["cell"], r["size"], r["dtype"], str(r["threads"]), r["mode"], r["engine"],
            r["competitors"]): r for r in recs}
    rows = []
    for (cell, size, dtype, threads, mode, engine, k), r in sorted(idx.items(), key=str):
        if engine != "c" or k == 0:
            continue
        cpus = r.get("cpus") or 0
        if k >= cpus > 0:
            required, label = BUSY_ALL_CORES, f"{k} competitors (one per core)"
        elif k == 1:
            required, label = BUSY_ONE_COMPETITOR, "1 competitor"
        else:
            continue

        def factor(eng):
            quiet = idx.get((cell, size, dtype, threads, mode, eng, 0))
            loaded = idx.get((cell, size, dtype, threads, mode, eng, k))
            return ratio(loaded["median_s"], quiet["median_s"]) if quiet and loaded else None
        others = ", ".join(f"{name} {f:.2f}x" for name, f in
                           (("NumPy", factor("numpy")), ("PyTorch", factor("torch")))
                           if f is not None)
        stalls = r.get("pool_stalls_total")
        beside = others + (f"; fastrnn pool stalls {stalls}" if stalls is not None else "")
        quiet = idx.get((cell, size, dtype, threads, mode, engine, 0))
        rows.append(_row(GROUP_BUSY, f"{_name(cell, size, dtype, mode)}, {threads} threads, "
                                     f"{label}", factor("c"), required, "<=",
                         busy=r.get("busy") or (quiet or {}).get("busy"), beside=beside))
    return rows


def evaluate(records):
    return grid_targets(records) + before_targets(records) + busy_targets(records)

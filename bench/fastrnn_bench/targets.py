"""Issue 3's speed targets, evaluated on a run's grid records.

Every target the run covers gets one row with the measured value, the target and
PASS, MISS or PENDING (no C engine). A row is kept only when its baseline ran (the
NumPy engine, torch, or for the thread and machine targets the NumPy engine at the
same configuration), so a filtered run lists only what it could have measured; a
missing C number is PENDING (no C engine) or n/a (C raised there).
"""

from .grid import DTYPES, MODES

# 1. against the NumPy engine, float32, 1 thread: the speed-up required per size
VS_NUMPY = {"1000x1x32": 10.0, "100x1x128": 10.0, "100x8x128": 3.0, "50x64x512": 1.3}
# 3. fwd+bwd at this size reaches this fraction of the float32 1-thread SGEMM peak
PEAK_SIZE, PEAK_FRACTION = "50x64x512", 0.90


def ratio(slow, fast):
    """Speed-up of the engine that took ``fast`` over the one that took ``slow``."""
    if slow is None or fast is None or fast <= 0:
        return None
    return slow / fast


def index(records):
    """(cell, size, dtype, threads, mode, engine) -> record, for the grid records."""
    return {(r["cell"], r["size"], r["dtype"], r["threads"], r["mode"], r["engine"]): r
            for r in records if r.get("table") == "grid"}


def evaluate(records, cells, c_available, have_peak=True):
    """One dict per covered target: group, cell, size, dtype, threads, mode, what,
    measured, required, status, margin."""
    idx = index(records)
    rows = []

    def med(cell, size, dtype, n, mode, engine):
        r = idx.get((cell, size, dtype, n, mode, engine))
        return r["median_s"] if r else None

    def ran(cell, size, dtype, n, mode, engine):
        return (cell, size, dtype, n, mode, engine) in idx

    def add(group, cell, size, dtype, n, mode, measured, required, what, base_ran):
        if not base_ran:
            return
        if measured is None:
            status = "n/a" if c_available else "PENDING"
            margin = "not measured (see Problems)" if c_available else "C engine not available"
        elif measured >= required:
            status, margin = "PASS", f"+{100 * (measured / required - 1):.0f}%"
        else:
            status = "MISS"
            margin = (f"{100 * (1 - measured / required):.0f}% short "
                      f"(needs {required / measured:.2f}x more)")
        rows.append(dict(group=group, cell=cell, size=size, dtype=dtype, threads=n, mode=mode,
                         what=what, measured=measured, required=required, status=status,
                         margin=margin))

    sizes_n = {r["size"]: r["N"] for r in idx.values()}
    sizes = sorted(sizes_n, key=lambda s: (sizes_n[s], s))
    f32 = "float32"
    for size, req in VS_NUMPY.items():
        for cell in cells:
            for mode in MODES:
                add("C vs NumPy engine (float32, 1 thread)", cell, size, f32, 1, mode,
                    ratio(med(cell, size, f32, 1, mode, "numpy"), med(cell, size, f32, 1, mode, "c")),
                    req, "speed-up", ran(cell, size, f32, 1, mode, "numpy"))
    # 2. against PyTorch, float32, 1 thread: 2x at N <= 8; at N >= 32 1.0x LSTM, 1.3x SRN, GRU
    for size in sizes:
        N = sizes_n[size]
        for cell in cells:
            if N <= 8:
                req = 2.0
            elif N >= 32:
                req = 1.0 if cell == "lstm" else 1.3
            else:
                continue
            for mode in MODES:
                add("C vs PyTorch (float32, 1 thread)", cell, size, f32, 1, mode,
                    ratio(med(cell, size, f32, 1, mode, "torch"), med(cell, size, f32, 1, mode, "c")),
                    req, "speed-up", ran(cell, size, f32, 1, mode, "torch"))
    if have_peak:
        for cell in cells:
            r = idx.get((cell, PEAK_SIZE, f32, 1, "fwdbwd", "c"))
            add("C vs the machine's SGEMM peak (float32, 1 thread, fwd+bwd)", cell, PEAK_SIZE,
                f32, 1, "fwdbwd", r.get("frac_peak") if r else None, PEAK_FRACTION,
                "fraction of peak", ran(cell, PEAK_SIZE, f32, 1, "fwdbwd", "numpy"))
    # 4. float64: at least 1.5x PyTorch everywhere (every size, cell, mode, thread count)
    for n in (1, 2):
        for size in sizes:
            for cell in cells:
                for mode in MODES:
                    add("C vs PyTorch, float64 (everywhere)", cell, size, "float64", n, mode,
                        ratio(med(cell, size, "float64", n, mode, "torch"),
                              med(cell, size, "float64", n, mode, "c")), 1.5, "speed-up",
                        ran(cell, size, "float64", n, mode, "torch"))
    # 5. 2 threads: not slower than 1 anywhere ...
    for dtype in DTYPES:
        for size in sizes:
            for cell in cells:
                for mode in MODES:
                    add("C with 2 threads not slower than with 1", cell, size, dtype, 2, mode,
                        ratio(med(cell, size, dtype, 1, mode, "c"), med(cell, size, dtype, 2, mode, "c")),
                        1.0, "t(1 thr) / t(2 thr)",
                        ran(cell, size, dtype, 1, mode, "numpy") and ran(cell, size, dtype, 2, mode, "numpy"))
    # ... and at least PyTorch's 2-thread speed at N >= 32
    for size in sizes:
        if sizes_n[size] < 32:
            continue
        for cell in cells:
            for mode in MODES:
                add("C vs PyTorch with 2 threads at N >= 32 (float32)", cell, size, f32, 2, mode,
                    ratio(med(cell, size, f32, 2, mode, "torch"), med(cell, size, f32, 2, mode, "c")),
                    1.0, "speed-up", ran(cell, size, f32, 2, mode, "torch"))
    return rows


def misses(rows):
    """(cell, size) of every float32 1-thread MISS: what ``--profile-misses`` profiles."""
    return sorted({(t["cell"], t["size"]) for t in rows
                   if t["status"] == "MISS" and t["dtype"] == "float32" and t["threads"] == 1})

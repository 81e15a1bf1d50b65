"""The streaming section of RESULTS.md (issue 12): one step per engine, the memory floor,
the fixed cost of a step call, and issue 12's targets.

Targets (at 1 thread, float32):

* LSTM and GRU, H=256, N=1: ``stream.step`` <= 0.5x PyTorch's LSTMCell/GRUCell time and
  <= 1.5x the memory floor;
* LSTM and GRU, H=1024, N=1 (weights beyond the caches): <= 1.3x the memory floor;
* the fixed cost of one step call, H=16, N=1: <= 5 us;
* ``layer.forward(x, train=False)`` of a T=1 input, LSTM H=256 N=1: >= 4x faster than
  the build before (from the T=1 overhead rows of ``overhead.py --tree before=...``:
  the ``layer`` level, ``train=False``).
"""

from .fmt import banners, fmt_load, fmt_ratio, fmt_us, latest, md_table, ratio
from .grid import CELL_LABEL, CELLS
from .streaming import ENGINE_LABEL, FIXED_H, floor_of
from .targets_threads import status

VS_CELL_H256 = 0.5
VS_FLOOR_H256 = 1.5
VS_FLOOR_H1024 = 1.3
FIXED_COST_S = 5e-6
T1_VS_BEFORE = 4.0
TIMED = ("stream", "layer", "numpy", "cell", "module")


def _notes(data):
    return [m["notes"]["streaming"] for m in data.metas
            if (m.get("notes") or {}).get("streaming")]


def streaming_section(data):
    recs = data.table("streaming")
    notes = _notes(data)
    if not recs:
        if not notes:
            return None
        return "\n".join(["## Streaming step (issue 12)", "",
                          f"**Not measured: {notes[-1]}.** `bench/run_all.sh --only streaming` "
                          "measures it once `layer.stream` exists."])
    idx = latest(recs, lambda r: (r["cell"], r["N"], r["H"], r["threads"], r["engine"]))
    configs = sorted({k[:4] for k in idx}, key=lambda k: (k[3], CELLS.index(k[0]), k[2], k[1]))
    times, ratios = [], []
    for cfg in configs:
        cell, N, H, n = cfg
        rs = {e: idx.get(cfg + (e,)) for e in TIMED}
        t = {e: (r["median_s"] if r else None) for e, r in rs.items()}
        floor, how = floor_of([idx[k] for k in idx if k[:4] == cfg])
        anyr = next(r for k, r in idx.items() if k[:4] == cfg)
        label = [CELL_LABEL[cell], N, H, n]
        times.append(label + [f"{anyr.get('packed_nbytes', 0) / 2**10:.0f}"]
                     + [fmt_us(t[e]) for e in TIMED]
                     + [fmt_us(floor) + (f" ({how.split('-')[1]})" if how else ""),
                        " / ".join(fmt_load(r) for r in rs.values() if r)])
        ratios.append(label + [fmt_ratio(ratio(t[e], floor)) for e in TIMED]
                      + [fmt_ratio(ratio(t[e], t["cell"])) for e in TIMED if e != "cell"])
    L = ["## Streaming step (issue 12)", "",
         "One step, T=1, N sequences, input = hidden = H, float32, the state carried from "
         "step to step, in microseconds per step (pytest-benchmark's median of many calls "
         "after a warm-up): **stream** = `layer.stream(batch_size=N).step(x_t)`; **forward "
         "T=1** = `layer.forward(x[None], state, train=False)` on the C engine; **NumPy** = "
         "the same on the NumPy engine; **torch Cell** = `nn.RNNCell/LSTMCell/GRUCell` and "
         "**torch module** = `nn.RNN/LSTM/GRU` with the state passed in, both under "
         "`torch.inference_mode()`. **floor** = the memory floor: the time to read the "
         "stream's packed weights once (`packed_nbytes` bytes), warm, on one thread: the "
         "faster of `np.add.reduce` (sum) and `np.maximum.reduce` (max) over a float32 "
         "buffer of that size, repeated (so it stays in cache when it fits, as a step's "
         "weights do). Every engine's first steps were checked against the NumPy engine's "
         "forward. The threads column is the count every engine ran with "
         "(`limit_threads`).", ""]
    L += banners(recs)
    L += [md_table(["cell", "N", "H", "threads", "packed KiB"]
                   + [f"{ENGINE_LABEL[e]} us" for e in TIMED] + ["floor us", "others (cores)"],
                   times), "",
          "Time ratios (lower is better; 1.00x = as fast as the reference): each engine's step "
          "/ the memory floor, and / PyTorch's Cell.", "",
          md_table(["cell", "N", "H", "threads"] + [f"{ENGINE_LABEL[e]} / floor" for e in TIMED]
                   + [f"{ENGINE_LABEL[e]} / Cell" for e in TIMED if e != "cell"], ratios), ""]
    fixed = [idx.get((c, 1, FIXED_H, n, "stream")) for c in CELLS
             for n in sorted({k[3] for k in idx})]
    fixed = [r for r in fixed if r]
    if fixed:
        L += [f"Fixed cost of one step call (H={FIXED_H}, N=1, `stream.step`): "
              + ", ".join(f"{CELL_LABEL[r['cell']]} {fmt_us(r['median_s'])} us"
                          f" ({r['threads']} thr)" for r in fixed) + ".", ""]
    vals = [v for m in data.of_kind("pytest") for v in (m.get("validations") or [])
            if str(v.get("pair", "")).endswith("vs numpy forward")]
    if vals:
        worst = max(vals, key=lambda v: v["max_rel_err"])
        L += [f"Validation: {len(vals)} engines' first steps against the NumPy engine's "
              f"forward, all within tolerance; the worst relative error "
              f"{worst['max_rel_err']:.2e} ({worst['pair']}, {worst['config']}).", ""]
    probs = [p for m in data.of_kind("pytest") for p in (m.get("problems") or [])
             if "test_streaming" in p]
    if probs:
        L += ["Problems (these raised; their cells are n/a):", ""]
        L += [f"- {p.splitlines()[0]}" for p in probs] + [""]
    L += targets(data, idx)
    return "\n".join(L)


def target_rows(data, idx=None):
    """Issue 12's targets: dicts of what, measured, required, sense, status, margin."""
    if idx is None:
        idx = latest(data.table("streaming"),
                     lambda r: (r["cell"], r["N"], r["H"], r["threads"], r["engine"]))
    rows = []

    def add(what, measured, required, sense, fmt, busy):
        st, margin = status(measured, required, sense)
        rows.append(dict(what=what, measured=measured, required=required, sense=sense,
                         status=st, margin=margin, fmt=fmt, busy=busy))

    def med(cell, N, H, engine, n=1):
        r = idx.get((cell, N, H, n, engine))
        return (r["median_s"] if r else None), bool(r and r.get("busy"))
    if idx:
        for cell in ("lstm", "gru"):
            s, b1 = med(cell, 1, 256, "stream")
            c, b2 = med(cell, 1, 256, "cell")
            floor256, _ = floor_of([r for k, r in idx.items() if k[:4] == (cell, 1, 256, 1)])
            floor1k, _ = floor_of([r for k, r in idx.items() if k[:4] == (cell, 1, 1024, 1)])
            s1k, b3 = med(cell, 1, 1024, "stream")
            add(f"{CELL_LABEL[cell]} H=256 N=1: stream / torch {CELL_LABEL[cell]}Cell",
                ratio(s, c), VS_CELL_H256, "<=", "x", b1 or b2)
            add(f"{CELL_LABEL[cell]} H=256 N=1: stream / memory floor", ratio(s, floor256),
                VS_FLOOR_H256, "<=", "x", b1)
            add(f"{CELL_LABEL[cell]} H=1024 N=1: stream / memory floor", ratio(s1k, floor1k),
                VS_FLOOR_H1024, "<=", "x", b3)
        for cell in CELLS:
            s, b = med(cell, 1, FIXED_H, "stream")
            add(f"{CELL_LABEL[cell]} H={FIXED_H} N=1: fixed cost of one step call (us)",
                None if s is None else s * 1e6, FIXED_COST_S * 1e6, "<=", "us", b)
    over = data.table("overhead")
    trees = list(dict.fromkeys(r["tree"] for r in over))
    if len(trees) >= 2:
        oidx = latest(over, lambda r: (r["tree"], r["cell"], r["H"], r["train"], r["level"]))
        before = oidx.get((trees[0], "lstm", 256, False, "layer"))
        today = oidx.get((trees[-1], "lstm", 256, False, "layer"))
        add(f"LSTM H=256 N=1 T=1 forward(train=False): {trees[0]} / {trees[-1]} (speed-up)",
            ratio(before["median_s"] if before else None, today["median_s"] if today else None),
            T1_VS_BEFORE, ">=", "x", any(r and r.get("busy") for r in (before, today)))
    elif idx:
        rows.append(dict(what="LSTM H=256 N=1 T=1 forward(train=False) vs the build before",
                         measured=None, required=T1_VS_BEFORE, sense=">=", status="n/a",
                         margin="needs the overhead table of two trees (`run_all.sh --before "
                                "SRC`)", fmt="x", busy=False))
    return rows


def targets(data, idx):
    rows = target_rows(data, idx)
    if not rows:
        return []
    counts = {s: sum(1 for t in rows if t["status"] == s) for s in ("PASS", "MISS", "n/a")}
    table = []
    for t in rows:
        m = t["measured"]
        shown = ("n/a" if m is None else (f"{m:.2f}" if t["fmt"] == "us" else fmt_ratio(m)))
        st = f"**{t['status']}**" if t["status"] == "MISS" else t["status"]
        table.append([t["what"], shown,
                      f"{t['sense']} {t['required']:g}{'' if t['fmt'] == 'us' else 'x'}",
                      st + (" **BUSY**" if t["busy"] else ""), t["margin"]])
    return ["### Targets (issue 12): " + ", ".join(f"{v} {k}" for k, v in counts.items() if v),
            "", "At 1 thread.", "",
            md_table(["target", "measured", "required", "status", "margin"], table), ""]

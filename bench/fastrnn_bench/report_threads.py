"""The thread tables of RESULTS.md (issue 11) and the sections of SCALING.md.

=================  ==========================================================================
section            built from
=================  ==========================================================================
threads-scaling    grid rows: t(1 thread) / t(2 threads) per engine and row; C against torch
                   and NumPy at each thread count
threads-before     ``tree-grid`` rows (``before.py``): the C engine at 1 thread, the build
                   before against today
busy               ``busy`` rows (``busy.py``): each engine's time with k competing
                   processes / its quiet time, fastrnn's pool stalls
targets-threads    all three: issue 11's targets (``targets_threads``)
scaling            ``barrier`` rows (``barrier.py``): the measured per-step barrier cost
SCALING.md         ``barrier`` rows and the grid's 1-thread C rows: the model (``scaling``)
=================  ==========================================================================
"""

from . import scaling as scaling_mod
from . import targets_threads
from .fmt import banners, fmt_load, fmt_ms, fmt_ratio, fmt_us, grid_key, latest, md_table, ratio
from .grid import CELL_LABEL, CELLS, DTYPES, ENGINE_LABEL, ENGINES, MODE_LABEL, MODES, threads_name


def _sizes(recs):
    n_of = {r["size"]: r["N"] for r in recs}
    return sorted(n_of, key=lambda s: (n_of[s], s))


def _load(*recs):
    return " / ".join(fmt_load(r) for r in recs if r) or "n/a"


# --- (a), (b): 1 and 2 threads ----------------------------------------------------------------

def threads_scaling(data):
    """Per engine and row: t(1 thread) / t(2 threads); C against torch and NumPy with the
    same thread count. Needs grid rows at both thread counts."""
    recs = data.table("grid")
    if not recs or not {1, 2} <= {r["threads"] for r in recs}:
        return None
    idx = latest(recs, grid_key)
    L = ["## Threads: 1 and 2 (issue 11)", "",
         "From the grid rows above (the medians tables give the times). Thread counts are "
         "set per engine: `fastrnn.set_num_threads(n)` (the C engine's own pool), "
         "`threadpoolctl.threadpool_limits(n, user_api=\"blas\")` (NumPy's BLAS, the NumPy "
         "engine) and `torch.set_num_threads(n)`. **1->2** = t(1 thread) / t(2 threads), the "
         "speed-up from the second thread; **C vs X, n thr** = t(X) / t(C) with n threads "
         "each (above 1: C is faster). The load column is the C engine's 1- and 2-thread "
         "rows (a **BUSY** or stalled row is not a record).", ""]
    L += banners([r for r in recs if r["engine"] == "c"])
    for dtype in DTYPES:
        rows = []
        for cell in CELLS:
            for size in _sizes(recs):
                for mode in MODES:
                    t = {(e, n): idx.get((cell, size, dtype, n, mode, e))
                         for e in ENGINES for n in (1, 2)}
                    med = {k: (v["median_s"] if v else None) for k, v in t.items()}
                    if not any(med.values()):
                        continue
                    rows.append([CELL_LABEL[cell], size, MODE_LABEL[mode]]
                                + [fmt_ratio(ratio(med[(e, 1)], med[(e, 2)])) for e in ENGINES]
                                + [fmt_ratio(ratio(med[(other, n)], med[("c", n)]))
                                   for n in (1, 2) for other in ("torch", "numpy")]
                                + [_load(t[("c", 1)], t[("c", 2)])])
        if rows:
            L += [f"### {dtype}", "",
                  md_table(["cell", "T x N x H", "mode"]
                           + [f"{ENGINE_LABEL[e]} 1->2" for e in ENGINES]
                           + [f"C vs {o}, {n} thr" for n in (1, 2) for o in ("torch", "NumPy")]
                           + ["others (cores) C 1 / 2 thr"], rows), ""]
    return "\n".join(L)


def _trees(recs):
    return list(dict.fromkeys(r["tree"] for r in recs))


def threads_before(data):
    """The C engine at 1 thread: the first tree (the build before) against the last (today)."""
    recs = data.table("tree-grid")
    if not recs:
        return None
    trees = _trees(recs)
    base, today = trees[0], trees[-1]
    idx = latest(recs, lambda r: (r["tree"], r["cell"], r["size"], r["dtype"], r["mode"]))
    L = ["## 1 thread: today against the build before (issue 11)", "",
         "The grid's C engine at 1 thread, each tree in its own process "
         "(`bench/before.py`: `OPENBLAS_NUM_THREADS=1 FASTRNN_NUM_THREADS=1`, and "
         "`limit_threads(1)` around every row), the trees alternating, each row's fastest "
         f"median kept. **{base} / {today}** = t({base}) / t({today}): above 1 when today is "
         f"faster; issue 11's target is >= {targets_threads.VS_BEFORE_1THR}x on every row.", ""]
    info = {}
    for r in recs:
        info.setdefault(r["tree"], r)
    for tree in trees:
        r = info[tree]
        L.append(f"- `{tree}`: layout `{r.get('layout', '?')}`, fastrnn at "
                 f"`{r.get('fastrnn_path')}` (git {r.get('git')}), kernels ISA {r.get('isa')}")
    L += [""] + banners(recs)
    rows = []
    for dtype in DTYPES:
        for cell in CELLS:
            for size in _sizes(recs):
                for mode in MODES:
                    b, t = idx.get((base, cell, size, dtype, mode)), idx.get((today, cell, size,
                                                                              dtype, mode))
                    if b is None and t is None:
                        continue
                    x = ratio(b["median_s"] if b else None, t["median_s"] if t else None)
                    st, _ = targets_threads.status(x, targets_threads.VS_BEFORE_1THR)
                    rows.append([CELL_LABEL[cell], size, dtype, MODE_LABEL[mode],
                                 fmt_ms(b["median_s"] if b else None),
                                 fmt_ms(t["median_s"] if t else None), fmt_ratio(x),
                                 f"**{st}**" if st == "MISS" else st, _load(b, t)])
    L += [md_table(["cell", "T x N x H", "dtype", "mode", f"{base} ms", f"{today} ms",
                    f"{base} / {today}", f">= {targets_threads.VS_BEFORE_1THR}x",
                    "others (cores)"], rows)]
    return "\n".join(L)


# --- (c): a busy machine -------------------------------------------------------------------------

def busy_section(data):
    recs = data.table("busy")
    if not recs:
        return None
    idx = latest(recs, lambda r: (r["cell"], r["size"], r["dtype"], str(r["threads"]),
                                  r["mode"], r["engine"], r["competitors"]))
    ks = sorted({r["competitors"] for r in recs})
    rows = []
    keys = sorted({k[:6] for k in idx},
                  key=lambda k: (CELLS.index(k[0]), k[1], k[2], k[3], k[4],
                                 ENGINES.index(k[5])))
    for key in keys:
        quiet = idx.get(key + (0,))
        t0 = quiet["median_s"] if quiet else None
        used = quiet.get("threads_used") if quiet else None
        row = [CELL_LABEL[key[0]], key[1], key[2], MODE_LABEL[key[4]], ENGINE_LABEL[key[5]],
               threads_name(key[3]) + (f" ({used})" if used is not None else ""), fmt_ms(t0)]
        for k in ks:
            if k == 0:
                continue
            r = idx.get(key + (k,))
            row.append(fmt_ratio(ratio(r["median_s"], t0)) if r and t0 else "n/a")
        stalls = [idx[key + (k,)].get("pool_stalls_total") for k in ks if key + (k,) in idx]
        row.append(" / ".join("-" if s is None else str(s) for s in stalls)
                   if key[5] == "c" else "")
        beyond = [dict(r, others=max(0.0, r["others"] - r["competitors"]))
                  if r.get("others") is not None else r
                  for r in (idx.get(key + (k,)) for k in ks) if r]
        row.append(" / ".join(fmt_load(r) for r in beyond))
        rows.append(row)
    cpus = max((r.get("cpus") or 0) for r in recs) or "?"
    return "\n".join([
        "## Busy machine (issue 11)", "",
        "Each engine in its own process (so one pool's spinning never hurts another), timed "
        "alone and then with k competing CPU-bound processes (`python -c \"while True: "
        f"pass\"`) started around it, in one run, on {cpus} CPUs. **threads** is the "
        "setting (`default`: each library's own, nothing limited) and, in parentheses, the "
        "count the engine ran with. The k columns are time with k competitors / quiet time "
        "(1.00x = unaffected). **pool stalls** (fastrnn): how many times, in that process, a "
        "call found a worker off its CPU and went on with one thread for a while (8 ms, "
        "doubling up to a quarter second while stalls recur) (quiet / k competitors ...). "
        "`others` is the load beyond the competitors started on purpose. Issue 11's "
        "targets are in the next section.", "",
        *banners(recs),
        md_table(["cell", "T x N x H", "dtype", "mode", "engine", "threads", "quiet ms"]
                 + [f"{k} competitor{'s' if k > 1 else ''}" for k in ks if k]
                 + ["pool stalls", "others (cores)"], rows)])


# --- issue 11's targets -------------------------------------------------------------------------

def targets_section(data):
    rows = targets_threads.evaluate(data.records)
    if not rows:
        return None
    L = ["## Targets (issue 11)", "",
         "PASS/MISS with the measured value; a target on a row measured on a busy machine (or "
         "with pool stalls) is marked **BUSY**: not a record. Where a target is missed, the "
         "analysis below says by how much and what bounds it.", ""]
    groups = list(dict.fromkeys(t["group"] for t in rows))
    for g in groups:
        rg = [t for t in rows if t["group"] == g]
        counts = {s: sum(1 for t in rg if t["status"] == s) for s in ("PASS", "MISS", "n/a")}
        L += [f"### {g}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v), ""]
        has_beside = any(t["beside"] for t in rg)
        table = []
        for t in rg:
            st = f"**{t['status']}**" if t["status"] == "MISS" else t["status"]
            table.append([t["what"], fmt_ratio(t["measured"]),
                          f"{t['sense']} {t['required']:g}x",
                          st + (" **BUSY**" if t["busy"] else ""), t["margin"]]
                         + ([t["beside"]] if has_beside else []))
        L += [md_table(["row", "measured", "target", "status", "margin"]
                       + (["beside it"] if has_beside else []), table), ""]
    return "\n".join(L)


# --- (d): the barrier, and SCALING.md -------------------------------------------------------------

def _barrier_rows(per):
    rows = []
    for (cell, dtype, mode), v in sorted(per.items(), key=lambda kv: (
            CELLS.index(kv[0][0]), kv[0][1], MODES.index(kv[0][2]))):
        rows.append([CELL_LABEL[cell], f"{v['T']}x{v['N']}x{v['H']}", dtype, MODE_LABEL[mode],
                     fmt_us(v["t1_step"]), fmt_us(v["t2_step"]), fmt_us(v["t1_step"] / 2),
                     f"**{fmt_us(v['b'])}**",
                     f"{v['others']:.2f}" + (f" ({v['stalls']} stalls)" if v["stalls"] else "")
                     + (" **BUSY**" if v["busy"] else "")])
    return rows


BARRIER_HEADER = ["cell", "T x N x H", "dtype", "mode", "1 thr us/step", "2 thr us/step",
                  "half of 1 thr", "barrier b (us)", "others (cores)"]


def scaling_section(data):
    """RESULTS.md: the measured per-step barrier cost; the model is in SCALING.md."""
    recs = data.table("barrier")
    if not recs:
        return None
    per = scaling_mod.barrier_per_step(recs)
    return "\n".join([
        "## Per-step barrier cost (issue 11 (d))", "",
        "A step that is tiny but still split over 2 threads, T steps, on 1 and on 2 threads "
        "(`bench/barrier.py`); **b** = the 2-thread step time minus half the 1-thread one: "
        "what the second thread costs per step beyond the halved work. The model of scaling "
        "to 4, 8 and 16 cores built on it, with its predictions for every grid size, is in "
        "[SCALING.md](SCALING.md).", "",
        *banners(recs), md_table(BARRIER_HEADER, _barrier_rows(per))])


SCALING_ORDER = ("scaling-barrier", "scaling-model")
SCALING_PLACEHOLDER = ("_Placeholder, for the lead: does the 2-thread check hold (predicted "
                       "against measured 1->2)? Where not, what else bounds the row (memory "
                       "bandwidth of W_hh, the whole-sequence products, imbalance)?_")
SCALING_SKELETON = """# Scaling past 2 cores: a model of the per-step barrier (issue 11 (d))

Generated by `python -m fastrnn_bench.report ... --scaling bench/SCALING.md` (through
`bench/run_all.sh`) from the barrier benchmark (`bench/barrier.py`) and the grid's 1-thread C
times; the sections between markers are rewritten by each run, the rest is kept.

{scaling-barrier}
{scaling-model}
## Analysis

""" + SCALING_PLACEHOLDER + "\n"


def scaling_md(data, grid_records=None):
    """{section: body} of SCALING.md, or None without barrier rows. ``grid_records``: the
    grid rows whose 1-thread C times are the work per step (default: ``data``'s)."""
    recs = data.table("barrier")
    if not recs:
        return None
    per = scaling_mod.barrier_per_step(recs)
    meta = next((m for m in data.metas if m.get("kind") == "barrier"), {})
    mi = meta.get("machine") or {}
    isa = next((r.get("isa") for r in recs if r.get("isa")), None)
    barrier = "\n".join([
        "## The measured barrier", "",
        f"Machine: {mi.get('cpu_model', '?')}, {mi.get('logical_cpus', '?')} CPUs, kernels "
        f"{isa}; {meta.get('command', 'bench/barrier.py')} ({mi.get('date_utc', '?')}).", "",
        "A forward (`fwd`, `train=False`) and a training step (`fwd+bwd`) with T steps at a "
        "size whose step is tiny but split over 2 threads (N*G*H*H >= "
        f"{scaling_mod.STEP_MIN_MACS}, the engine's threshold, with an even number of "
        "panels so the split is even), on 1 and on 2 threads, alternating "
        "(`fastrnn.set_num_threads`); the two must give the same bits. Per step:", "",
        "    b = t(2 threads) / T - t(1 thread) / T / 2", "",
        "the 2-thread step time minus half the 1-thread one: the cost of the second thread "
        "beyond the halved work (the barrier, the job's handoff, and the cache lines of h "
        "and the gates moving between the cores). A forward has one barrier per step, a "
        "training step two (the forward's and the backward's).", "",
        *banners(recs), md_table(BARRIER_HEADER, _barrier_rows(per))])
    return {"scaling-barrier": barrier,
            "scaling-model": _model(per, grid_records if grid_records is not None
                                    else data.table("grid"), isa)}


def _model(per, grid_records, isa):
    L = ["## The model and its predictions", "",
         "Per step, on p threads:", "",
         "    time(p) = work * f(p) + barrier(p),    barrier(p) = b * (p - 1)", "",
         "- **work**: the 1-thread step time, the grid's C time at 1 thread / T (the "
         "whole-sequence products included, so they are assumed to split as well as the "
         "steps do);",
         "- **f(p)**: the share of a step's units the busiest thread computes. The engine "
         "splits a step by hidden units in whole panels of NR units (NR from the kernels' "
         "source, `csrc/isa_<isa>.c`: FR_NRV vectors), about four chunks per thread, the "
         "chunks taken in turn: f(p) = ceil(chunks / p) * panels per chunk / panels, which is "
         "1/p when they divide evenly and stops falling once p exceeds the panels. A step "
         f"below {scaling_mod.STEP_MIN_MACS} multiply-adds (N*G*H*H) is not split at all: "
         "its speed-up is 1;",
         "- **barrier(p) = b (p - 1)**, linear in the threads, because the pool's barrier is "
         "central: the leader posts each job to every worker's own mailbox, all threads take "
         "chunks from one shared counter and sign off on one shared done count, so each "
         "extra thread adds one more handoff of those cache lines, one after another. b is "
         "the measured barrier above (same cell, dtype and mode). A tree barrier would cost "
         "b log2(p); the column **16, log2** shows what that would buy.", "",
         "Predicted speed-up S(p) = work / time(p). **2, measured** is the grid's 1->2 of the "
         "same row: where it falls short of **2, predicted**, something the model leaves out "
         "(memory bandwidth, the whole-sequence products, the load) bounds that row. **best "
         "p** is the thread count with the highest predicted speed-up (up to 64).", ""]
    idx = latest([r for r in grid_records if r.get("table") == "grid"], grid_key)
    if not idx:
        return "\n".join(L + ["_No grid rows in this report: run the grid (`bench/run_all.sh "
                              "--only grid,barrier`) for the predictions._"])
    for dtype in DTYPES:
        nr = scaling_mod.panel_width(isa, dtype)
        rows = []
        for cell in CELLS:
            for size in _sizes(idx.values()):
                for mode in MODES:
                    r1 = idx.get((cell, size, dtype, 1, mode, "c"))
                    if r1 is None:
                        continue
                    r2 = idx.get((cell, size, dtype, 2, mode, "c"))
                    T, N, H = r1["T"], r1["N"], r1["H"]
                    work = r1["median_s"] / T
                    b = per.get((cell, dtype, mode), {}).get("b")
                    split = scaling_mod.is_split(cell, N, H)
                    pred = {p: scaling_mod.predict(work, b, H, nr, p, split) for p in
                            scaling_mod.PREDICT_AT}
                    log16 = scaling_mod.predict(work, b, H, nr, 16, split, form="log2")
                    best_p, best_s = scaling_mod.best_threads(work, b, H, nr, split)
                    measured = ratio(r1["median_s"], r2["median_s"] if r2 else None)
                    rows.append([CELL_LABEL[cell], size, MODE_LABEL[mode], fmt_us(work),
                                 (-(-H // nr) if nr else "?") if split else "not split",
                                 fmt_us(b), fmt_ratio(pred[2]), fmt_ratio(measured)
                                 + (" **BUSY**" if r2 is not None and r2.get("busy") else "")]
                                + [fmt_ratio(pred[p]) for p in scaling_mod.PREDICT_AT[1:]]
                                + [fmt_ratio(log16), f"{best_p} ({fmt_ratio(best_s)})"])
        if rows:
            L += [f"### {dtype} (NR = {nr or '?'} units per panel, kernels {isa})", "",
                  md_table(["cell", "T x N x H", "mode", "work us/step (1 thr)", "panels",
                            "b us", "2, predicted", "2, measured"]
                           + [f"{p}" for p in scaling_mod.PREDICT_AT[1:]]
                           + ["16, log2", "best p"], rows), ""]
    return "\n".join(L)

"""Markdown tables and the generated sections of RESULTS.md, from benchmark JSON.

    python -m fastrnn_bench.report out.json [more.json ...] [--results bench/RESULTS.md]
                                   [--plot bench/ratios.png] [--no-write] [--print]

Each JSON is pytest-benchmark's (``pytest bench/ --benchmark-only
--benchmark-json=out.json``) or this library's own (``records.FORMAT``). Every
section with data in the inputs is rebuilt; the others, and all hand-written
text, stay as they are (``results_md``). Later inputs win over earlier ones for
the same row, so a run can be completed by another one (say, the 2-thread rows).

Adding a table: a builder ``def my_table(data) -> str | None`` (None = no data,
keep the section as it is) registered in ``BUILDERS`` under a name listed in
``results_md.ORDER``, reading ``data.table("my-table")`` records.
"""

import argparse
import os
import sys

from . import BENCH_DIR, log
from . import records as records_mod
from . import report_streaming, report_threads, results_md, targets as targets_mod
from .fmt import (banners, busy_note, fmt_load, fmt_ms, fmt_pct, fmt_ratio, fmt_us, grid_key,
                  latest, md_table, ratio)
from .grid import CELL_LABEL, CELLS, DTYPES, ENGINE_LABEL, ENGINES, MODE_LABEL, MODES, RTOL
from .plot import write_plot
from .timing import BUSY_THRESHOLD

# --- the main run: summary, machine, method -------------------------------------------------

def summary(data):
    m = data.main
    if m is None:
        return None
    machine = m.get("machine", {})
    engines = m.get("selection", {}).get("engines", ENGINES)
    L = []
    if not machine.get("c_engine_available") or "c" not in engines:
        L += ["> **PENDING THE C ENGINE. Not final.** The run had no C engine "
              "(`fastrnn.c_engine_available()` was False, or it was filtered out): every C "
              "column is n/a and every target is PENDING.", ""]
    rows = list(latest(data.table("grid"), grid_key).values()) + list(latest(
        data.table("gemm"), lambda r: (r["kind"], r["phase"], r["lib"], r["dtype"],
                                       r["threads"], r["M"], r["K"], r["N"])).values())
    n_busy, n = busy_note(rows)
    load_start, load_end = m.get("load_start"), m.get("load_end")
    if n_busy or (m.get("others_start") or 0) > BUSY_THRESHOLD:
        L += [f"> **BUSY MACHINE: NOT A RECORD.** {n_busy} of {n} rows ran while other "
              f"processes used more than {BUSY_THRESHOLD} cores (marked **BUSY** in the load "
              f"columns); other processes used {m.get('others_start')} cores just before the "
              f"run, and the 1-minute load average was {load_start} at the start and "
              f"{load_end} at the end. Rerun on an idle machine (`bench/run_all.sh` waits "
              "for one).", ""]
    refused = sum(len(g.get("refused") or []) for g in data.grid_runs[:1])
    if len(data.grid_runs) > 1:
        L += [f"> {refused} rows were refused as busy in the main run and taken from "
              f"{len(data.grid_runs) - 1} later run(s) (`--bench-refuse-busy`, then a rerun "
              "of those rows).", ""]
    elif refused:
        L += [f"> **{refused} rows were refused as busy and are missing** (n/a): rerun them "
              "(`python -m fastrnn_bench.records refused RUN.json` lists them).", ""]
    if m.get("grid") != "full":
        L += [f"> **{m.get('grid')} grid** (`--bench-grid={m.get('grid')}`): fewer sizes; a "
              "check of the harness, not the record (`--bench-grid=full`).", ""]
    by = (f"`{m['wrapper']}` (which ran `{m.get('command')}`)" if m.get("wrapper")
          else f"`{m.get('command')}`")
    L += [f"Generated {machine.get('date_utc')} by {by} in "
          f"{(m.get('elapsed_s') or 0) / 60:.1f} min; fastrnn {machine.get('fastrnn')} (git "
          f"{machine.get('git')}), C engine "
          f"{'available' if machine.get('c_engine_available') else 'NOT available'}"
          + (f", kernels ISA {machine['isa']}" if machine.get("isa") else "") + "."]
    return "\n".join(L)


def machine_meta(data):
    """The run that describes the machine: the grid run, else the first run with a
    description (``run_all.sh`` writes one, kind "machine", before every part)."""
    if data.main is not None:
        return data.main
    for kind in ("machine", "busy", "barrier", "pytest", "overhead-trees", "tree-grid"):
        for m in data.of_kind(kind):
            if m.get("machine"):
                return m
            runs = [r for r in (m.get("runs") or []) if r.get("machine")]
            if runs:
                return dict(runs[-1], kind=kind, threads_under_limit=None)
    return None


def machine_section(data):
    m = machine_meta(data)
    if m is None:
        return None
    mi = m.get("machine", {})
    ls = mi.get("lscpu", {})
    L = ["## Machine", ""]
    if m is not data.main:
        L += [f"(Described by the `{m.get('kind')}` run: this report has no grid run.)", ""]
    L += [f"- CPU: {mi.get('cpu_model')}"
          + (f" (vendor {ls.get('Vendor ID')}, family {ls.get('CPU family')}, model "
             f"{ls.get('Model')})" if ls.get("CPU family") else "")
          + (f", hypervisor {ls['Hypervisor vendor']}" if ls.get("Hypervisor vendor") else ""),
          f"- Cores: {mi.get('logical_cpus')} logical CPUs ({mi.get('usable_cpus')} usable by "
          f"this process); threads per core {ls.get('Thread(s) per core', '?')}; caches L1d "
          f"{ls.get('L1d cache', '?')}, L2 {ls.get('L2 cache', '?')}, L3 {ls.get('L3 cache', '?')}",
          f"- SIMD: {', '.join(mi.get('simd', [])) or 'unknown'}; the C kernels run "
          f"**{mi.get('isa', 'n/a')}** (setting {mi.get('isa_setting', 'n/a')}, available "
          f"{', '.join(mi.get('isas_available', [])) or 'n/a'})",
          "- Threads by default (nothing limited): "
          + (", ".join(f"{k} {v}" for k, v in (mi.get("threads_default") or {}).items())
             or "n/a")
          + (f"; the C engine's pool had stalled {mi['pool_stalls']} times when described"
             if mi.get("pool_stalls") is not None else ""),
          f"- Memory: {mi.get('memory_gib')} GiB",
          f"- Load: the 1-minute load average (1, 5, 15 min) at start {m.get('load_start')}, at "
          f"end {m.get('load_end', 'n/a')}; other processes used {m.get('others_start')} cores "
          "just before the run (see Method for the per-row load)",
          f"- OS: {mi.get('platform')}",
          f"- Python {mi.get('python')}, NumPy {mi.get('numpy')}, SciPy {mi.get('scipy')}, "
          f"torch {mi.get('torch') or 'not installed'}, threadpoolctl {mi.get('threadpoolctl')}, "
          f"pytest-benchmark {m.get('pytest_benchmark', '?')}",
          "- Environment: " + ", ".join(f"`{k}={v if v is not None else '(unset)'}`"
                                        for k, v in mi.get("env", {}).items()),
          ""]
    L += ["Thread pools loaded in this process (threadpoolctl, before any limit; `fastrnn` "
          "is the C engine's own pool, registered with threadpoolctl):", ""]
    L += [md_table(["user_api", "internal_api", "prefix", "version", "architecture",
                    "threading", "num_threads", "file"],
                   [[b["user_api"], b["internal_api"], b["prefix"], b["version"],
                     b["architecture"] or "", b["threading_layer"] or "", b["num_threads"],
                     os.path.basename(b["filepath"] or "")] for b in mi.get("blas", [])]), ""]
    L += ["The C engine runs every product on its own threads and calls no BLAS; the NumPy "
          "engine's matmuls go through NumPy's OpenBLAS; torch uses its own MKL/oneDNN and "
          "OpenMP, which `torch.set_num_threads` controls."]
    if mi.get("torch_parallel"):
        L += ["torch: " + "; ".join(mi["torch_parallel"])
              + f"; mkldnn available: {mi.get('torch_mkldnn')}"]
    if m.get("threads_under_limit"):
        L += ["", "Thread settings: a row with n threads runs inside `limit_threads(n)`: "
              "`fastrnn.set_num_threads(n)`, `threadpoolctl.threadpool_limits(n, "
              "user_api=\"blas\")` and `torch.set_num_threads(n)`; measured under it:", ""]
        for n, libs in m["threads_under_limit"].items():
            L.append(f"- n={n}: " + ", ".join(libs))
    return "\n".join(L)


def method(data):
    m = data.main
    if m is None:
        return None
    sel = m.get("selection", {})
    t = m.get("timing", {})
    return "\n".join([
        "## Method", "",
        f"- Grid `{m.get('grid')}`: sizes (T, N, input=hidden) {', '.join(sel.get('sizes', []))}; "
        f"cells {', '.join(CELL_LABEL[c] for c in sel.get('cells', []))}; dtypes "
        f"{', '.join(sel.get('dtypes', []))}; threads {', '.join(map(str, sel.get('threads', [])))}; "
        f"engines {', '.join(ENGINE_LABEL[e] for e in sel.get('engines', []))}.",
        "- Modes: `fwd` = `layer.forward(x, train=False)` (torch: `module(x)` under "
        "`torch.inference_mode()`); `fwd+bwd` = `layer.forward(x, train=True)` then "
        "`layer.backward(dy)` (torch: `x.requires_grad_()`, parameters requiring grad, "
        "`y.backward(dy)`), gradients zeroed outside the timed region; every engine computes "
        "dx and all parameter gradients.",
        "- Validation, before timing each (cell, size, dtype, threads): the C engine and torch "
        "against the NumPy engine on outputs, final states, dx, dstate0 (C only) and every "
        "parameter gradient, and each engine's `train=False` output against its `train=True` "
        "output; error = max|a - ref| / max|ref|, tolerance "
        + ", ".join(f"{k} {v:g}" for k, v in RTOL.items()) + ". A mismatch aborts the run.",
        "- Timing: pytest-benchmark (`pytest bench/ --benchmark-only`), one test per row, the "
        "rows of one configuration one after the other, so no engine's thread pool competes "
        "with another's spinning workers. Each row: a 0.1 s pause (the previous row's "
        "pools go to sleep), one warm-up call, then "
        f"`benchmark.pedantic` rounds of one call each, as many as fill "
        f"{t.get('max_time', '?')} s (`--benchmark-max-time`), between "
        f"{t.get('min_rounds', '?')} (`--benchmark-min-rounds`) and {t.get('max_rounds', '?')} "
        "(`--bench-max-rounds`); set-up (gradient zeroing, the backend switch) is untimed; "
        "garbage collection is off while timing. Tables give the median; the JSON also has "
        "min, IQR and the rounds.",
        f"- Load, per row: `others` = the CPU (cores) that other processes and the hypervisor "
        "(steal) used while the row ran, from `/proc/stat` minus this process's own CPU time. "
        f"A row with `others` above {BUSY_THRESHOLD} is marked **BUSY**. (The 1-minute load "
        "average, which earlier records showed, counts the benchmark's own threads and lags "
        "by a minute; it is kept in the JSON as `load1`.)",
        "- Ratios are speed-ups, `A vs B` = time(B) / time(A): above 1 means A is faster.",
        "- GFLOP/s count the GEMM FLOPs the algorithm needs: forward 2*T*N*(I+H)*G*H "
        "(G = 1, 4, 3 for SRN, LSTM, GRU), forward+backward 3x that. `%peak` divides by the "
        "GEMM peak of the same dtype and thread count below.",
    ])


# --- GEMM, medians, targets --------------------------------------------------------------------

def gemm_section(data):
    recs = data.table("gemm")
    if not recs:
        return None
    L = ["## GEMM throughput of this machine (GFLOP/s)", "",
         "Square C[n,n] = A[n,n] @ B[n,n], median per call; `numpy` = `np.matmul` (NumPy's "
         "OpenBLAS), `scipy` = `scipy.linalg.blas.?gemm` (SciPy's OpenBLAS, when installed), "
         "measured at the start of the run (shown) and again at the end. **Peak** = the best "
         "of all of these: what a tuned GEMM reaches here, the reference for `%peak` (the C "
         "engine runs its own kernels, no BLAS).", ""]
    sq = [r for r in recs if r["kind"] == "square"]
    sizes = sorted({r["M"] for r in sq})
    by = latest(sq, lambda r: (r["dtype"], r["threads"], r["lib"], r["M"], r["phase"]))
    rows = []
    for dtype, n in sorted({(r["dtype"], r["threads"]) for r in sq}):
        cells, best = [], {}
        for lib in ("numpy", "scipy"):
            for s in sizes:
                r = by.get((dtype, n, lib, s, "start"))
                cells.append(f"{r['gflops']:.1f}" if r else "n/a")
        for phase in ("start", "end"):
            vals = [r["gflops"] for k, r in by.items() if k[:2] == (dtype, n) and k[4] == phase]
            best[phase] = f"{max(vals):.1f}" if vals else "n/a"
        busy = any(r.get("busy") for k, r in by.items() if k[:2] == (dtype, n))
        rows.append(["SGEMM" if dtype == "float32" else "DGEMM", n] + cells
                    + [f"{best['start']} / {best['end']}",
                       f"**{data.peaks[(dtype, n)]:.1f}**" + (" **BUSY**" if busy else "")])
    L += [md_table(["GEMM", "threads"] + [f"{lib} {s}" for lib in ("numpy", "scipy")
                                          for s in sizes] + ["best at start / end", "peak"],
                   rows), ""]
    proj = [r for r in recs if r["kind"] == "proj"]
    if proj:
        L += ["The input projection at the benchmark's shapes, (T*N x I) @ (I x G*H):", ""]
        rows = {}
        for r in proj:
            rows.setdefault((r["M"], r["K"], r["N"], r["dtype"]), {})[(r["lib"], r["threads"])] = \
                r["gflops"]
        hdr = [(lib, n) for n in sorted({r["threads"] for r in proj}) for lib in ("numpy", "scipy")]
        L += [md_table(["M x K x N", "dtype"] + [f"{lib} {n}thr" for lib, n in hdr],
                       [[f"{k[0]}x{k[1]}x{k[2]}", k[3]]
                        + [f"{v[h]:.1f}" if h in v else "n/a" for h in hdr]
                        for k, v in sorted(rows.items(), key=lambda kv: (kv[0][3], kv[0]))])]
    return "\n".join(L)


def medians(data, plot_note=None):
    recs = data.table("grid")
    if not recs:
        return None
    idx = latest(recs, grid_key)
    cells = [c for c in CELLS if any(k[0] == c for k in idx)]
    sizes = sorted({(r["N"], r["T"], r["size"]) for r in recs})
    L = ["## Medians (ms) and ratios", ""]
    if plot_note:
        L += [plot_note, ""]
    for dtype in DTYPES:
        for n in sorted({r["threads"] for r in recs}):
            rows = []
            for cell in cells:
                for _, _, sn in sizes:
                    for mode in MODES:
                        r = {e: idx.get((cell, sn, dtype, n, mode, e)) for e in ENGINES}
                        t = {e: (r[e]["median_s"] if r[e] else None) for e in ENGINES}
                        if not any(t.values()):
                            continue
                        fp = {e: (r[e]["frac_peak"] if r[e] else None) for e in ENGINES}
                        part = "" if mode == "fwd" else " / ".join(
                            fmt_ms(r[e].get("fwd_part_s") if r[e] else None) for e in ENGINES)
                        rows.append([CELL_LABEL[cell], sn, MODE_LABEL[mode],
                                     fmt_ms(t["c"]), fmt_ms(t["numpy"]), fmt_ms(t["torch"]),
                                     fmt_ratio(ratio(t["numpy"], t["c"])),
                                     fmt_ratio(ratio(t["torch"], t["c"])),
                                     fmt_ratio(ratio(t["numpy"], t["torch"])),
                                     fmt_pct(fp["c"]), fmt_pct(fp["numpy"]), fmt_pct(fp["torch"]),
                                     part, " / ".join(fmt_load(r[e]) for e in ENGINES if r[e])])
            if not rows:
                continue
            L += [f"### {dtype}, {n} thread{'s' if n > 1 else ''}", ""]
            L += [md_table(["cell", "T x N x H", "mode", "C ms", "NumPy ms", "torch ms",
                            "C vs NumPy", "C vs torch", "torch vs NumPy", "C %peak",
                            "NumPy %peak", "torch %peak", "train-fwd ms C / NumPy / torch",
                            "others (cores) C / NumPy / torch"], rows), ""]
    return "\n".join(L)


def target_rows(data):
    recs = data.table("grid")
    m = data.main or {}
    c_ok = (m.get("machine", {}).get("c_engine_available", True)
            and any(r["engine"] == "c" for r in recs))
    cells = [c for c in CELLS if any(r["cell"] == c for r in recs)]
    return targets_mod.evaluate(recs, cells, c_ok, have_peak=bool(data.peaks))


def targets_section(data):
    if not data.table("grid"):
        return None
    rows_all = target_rows(data)
    L = ["## Targets (issue 3)", ""]
    if not rows_all:
        L += ["No target is covered by the selected configurations."]
    groups = []
    for t in rows_all:
        if t["group"] not in groups:
            groups.append(t["group"])
    for g in groups:
        rows_g = [t for t in rows_all if t["group"] == g]
        counts = {s: sum(1 for t in rows_g if t["status"] == s)
                  for s in ("PASS", "MISS", "PENDING", "n/a")}
        L += [f"### {g}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v), ""]
        rows = []
        for t in rows_g:
            if t["what"] == "fraction of peak":
                ms, rq = fmt_pct(t["measured"]), fmt_pct(t["required"])
            else:
                ms, rq = fmt_ratio(t["measured"]), f">= {t['required']:g}x"
            rows.append([CELL_LABEL[t["cell"]], t["size"], t["dtype"], t["threads"],
                         MODE_LABEL[t["mode"]], t["what"], ms, rq,
                         f"**{t['status']}**" if t["status"] == "MISS" else t["status"],
                         t["margin"]])
        L += [md_table(["cell", "T x N x H", "dtype", "threads", "mode", "measured as",
                        "measured", "target", "status", "margin"], rows), ""]
    return "\n".join(L)


# --- the T=1 overhead ----------------------------------------------------------------------------

LEVELS = ("binding", "functional", "layer")


def overhead_section(data):
    recs = data.table("overhead")
    if not recs:
        return None
    trees = []
    for r in recs:
        if r["tree"] not in trees:
            trees.append(r["tree"])
    idx = latest(recs, lambda r: (r["tree"], r["cell"], r["H"], r["train"], r["level"]))
    keys = sorted({(r["cell"], r["H"], r["train"]) for r in recs},
                  key=lambda k: (CELLS.index(k[0]), k[1], k[2]))
    info = {}
    for r in recs:
        info.setdefault(r["tree"], r)
    L = ["## T=1 forward overhead (issue 10)", "",
         "Microseconds per forward call with T=1, N=1, input = hidden = H, float32, the C "
         "engine, the state passed in (a streaming step), median of many calls after a "
         "warm-up (pytest-benchmark), at three levels: **binding** = the compiled "
         "`_ext.<cell>_forward` called directly with prepared arrays; **functional** = "
         "`fastrnn.functional.<cell>_forward` (validation and preparation of every argument); "
         "**layer** = `fastrnn.<Cell>(H, H).forward(x, state, train=...)`. "
         "`train=True` keeps the cache a backward needs.", ""]
    L += banners(recs)
    for tree in trees:
        r = info[tree]
        L.append(f"- `{tree}`: layout `{r.get('layout')}`, fastrnn at `{r.get('fastrnn_path')}` "
                 f"(git {r.get('git')}), kernels ISA {r.get('isa')}")
    L.append("")
    if len(trees) == 1:
        tree = trees[0]
        rows = []
        for cell, H, train in keys:
            t = {lv: idx.get((tree, cell, H, train, lv)) for lv in LEVELS}
            s = {lv: (t[lv]["median_s"] if t[lv] else None) for lv in LEVELS}
            rows.append([CELL_LABEL[cell], H, train] + [fmt_us(s[lv]) for lv in LEVELS]
                        + [fmt_us(s["functional"] - s["binding"])
                           if s["functional"] and s["binding"] else "n/a",
                           fmt_us(s["layer"] - s["binding"]) if s["layer"] and s["binding"]
                           else "n/a",
                           " / ".join(fmt_load(t[lv]) for lv in LEVELS if t[lv])])
        L += [md_table(["cell", "H", "train", "binding us", "functional us", "layer us",
                        "functional - binding", "layer - binding", "others (cores)"], rows)]
        return "\n".join(L)
    base = trees[0]
    L += [f"Ratios are `{base}` / tree: the speed-up over `{base}`. Issue 10's target: the "
          "layer level at least 2x faster than before (**PASS**/**MISS** in the last column).",
          ""]
    rows = []
    for cell, H, train in keys:
        for lv in LEVELS:
            t = {tree: idx.get((tree, cell, H, train, lv)) for tree in trees}
            s = {tree: (t[tree]["median_s"] if t[tree] else None) for tree in trees}
            row = [CELL_LABEL[cell], H, train, lv] + [fmt_us(s[tree]) for tree in trees]
            ratios = [ratio(s[base], s[tree]) for tree in trees[1:]]
            row += [fmt_ratio(x) for x in ratios]
            target = ""
            if lv == "layer" and ratios and ratios[-1] is not None:
                target = "PASS" if ratios[-1] >= 2.0 else "**MISS**"
            row += [target, " / ".join(fmt_load(t[tree]) for tree in trees if t[tree])]
            rows.append(row)
    L += [md_table(["cell", "H", "train", "level"] + [f"{tree} us" for tree in trees]
                   + [f"{base} / {tree}" for tree in trees[1:]]
                   + ["layer >= 2x", "others (cores)"], rows)]
    return "\n".join(L)


# --- validation, problems, profiles ------------------------------------------------------------

def validation(data):
    """Every pytest run's comparisons (the grid's, the streaming step's); rebuilt only with a
    grid run, so a partial run (``run_all.sh --only streaming``) keeps the record's."""
    metas = data.of_kind("pytest")
    vals = [v for m in metas for v in (m.get("validations") or [])]
    if data.main is None or not any("validations" in m for m in metas):
        return None
    L = ["## Validation", ""]
    if not vals:
        return "\n".join(L + ["No comparison ran."])
    worst = {}
    for v in vals:
        key = (v["pair"], v["dtype"])
        if key not in worst or v["max_rel_err"] > worst[key]["max_rel_err"]:
            worst[key] = v
    L += [f"{len(vals)} comparisons, all within tolerance. Worst relative error per pair:", ""]
    L += [md_table(["pair", "dtype", "worst error", "tolerance", "where"],
                   [[k[0], k[1], f"{v['max_rel_err']:.2e}", f"{v['rtol']:g}", v["config"]]
                    for k, v in sorted(worst.items())])]
    return "\n".join(L)


def problems(data):
    """What raised in the pytest runs; rebuilt only with a grid run (as ``validation``: the
    streaming section lists its own run's problems)."""
    metas = data.of_kind("pytest")
    if data.main is None:
        return None
    probs = [p for m in metas for p in (m.get("problems") or [])]
    if not probs:
        return ""
    return "\n".join(["## Problems", "",
                      "These raised instead of running; their cells are n/a:", ""]
                     + [f"- {p.splitlines()[0]}" for p in probs])


def profiles(data):
    runs = data.of_kind("profiles")
    blocks = [m["profiles"] for m in runs if m.get("profiles")]
    if not blocks:
        if runs and data.main is not None:      # a record run whose misses needed no profile
            return "## Profiles\n\nNothing to profile: no float32 1-thread MISS."
        return None
    return "## Profiles\n\n" + "\n".join("\n".join(b) for b in blocks)


BUILDERS = {
    "summary": summary, "machine": machine_section, "method": method, "gemm": gemm_section,
    "medians": medians, "targets": targets_section, "overhead": overhead_section,
    "threads-scaling": report_threads.threads_scaling,
    "threads-before": report_threads.threads_before, "busy": report_threads.busy_section,
    "targets-threads": report_threads.targets_section,
    "scaling": report_threads.scaling_section,
    "streaming": report_streaming.streaming_section, "validation": validation,
    "problems": problems, "profiles": profiles,
}


# --- building and writing ----------------------------------------------------------------------

def build(data, plot_note=None, old_sections=None):
    """{section: body} for every section the data covers."""
    out = {}
    for name, fn in BUILDERS.items():
        body = fn(data, plot_note) if name == "medians" else fn(data)
        if body is None:
            continue
        if name == "profiles" and data.main is None and old_sections:
            body = results_md.merge_subsections(old_sections.get("profiles", ""), body)
        out[name] = body
    return out


def write(data, results=None, plot=None, scaling=None, scaling_grid=None):
    """Rebuild the covered sections of ``results`` (and the plot, and the sections of the
    ``scaling`` file, SCALING.md, when the data has barrier rows; ``scaling_grid``: other
    grid records for its model, e.g. an earlier run's); returns {section: body}."""
    note = write_plot(plot, data) if plot else None
    old = {}
    if results and os.path.exists(results):
        with open(results) as f:
            old = results_md.sections(f.read())
    new = build(data, note, old)
    if results:
        results_md.write(results, new)
    if scaling:
        grid = data.table("grid") or (scaling_grid.table("grid") if scaling_grid else [])
        sections = report_threads.scaling_md(data, grid)
        if sections:
            results_md.write(scaling, sections, report_threads.SCALING_ORDER,
                             report_threads.SCALING_SKELETON)
            log(f"rebuilt {', '.join(sections)} in {scaling}")
    return new


def print_targets(data):
    rows = target_rows(data) if data.table("grid") else []
    for t in rows:
        if t["status"] in ("PASS", "MISS"):
            log(f"  {t['status']:4s} {t['group']}: {CELL_LABEL[t['cell']]} {t['size']} "
                f"{t['dtype']} {t['threads']}thr {t['mode']}: {t['measured']:.3g} vs "
                f"{t['required']:g} ({t['margin']})")
    pending = sum(1 for t in rows if t["status"] == "PENDING")
    if pending:
        log(f"  {pending} targets PENDING (no C engine)")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastrnn_bench.report",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("json", nargs="+", help="pytest-benchmark JSON or fastrnn-bench JSON files")
    p.add_argument("--results", default=os.path.join(BENCH_DIR, "RESULTS.md"),
                   help="the file whose generated sections are rebuilt (default bench/RESULTS.md)")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="also draw the speed-up plot (bench/ratios.png for the record)")
    p.add_argument("--scaling", default=None, metavar="PATH",
                   help="also rebuild the model of scaling (bench/SCALING.md) from the barrier "
                        "rows and the grid's 1-thread C times")
    p.add_argument("--scaling-grid", nargs="+", default=None, metavar="JSON",
                   help="grid JSON for the model when the inputs have no grid rows (an "
                        "earlier run's); used for SCALING.md only")
    p.add_argument("--no-write", action="store_true", help="print the sections, write nothing")
    args = p.parse_args(argv)
    data = records_mod.load(args.json)
    if args.no_write:
        new = build(data)
        for name in results_md.ORDER:
            if name in new:
                print(results_md.block(name, new[name]))
    else:
        scaling_grid = records_mod.load(args.scaling_grid) if args.scaling_grid else None
        new = write(data, args.results, args.plot, args.scaling, scaling_grid)
        log(f"rebuilt {', '.join(new) or 'no section'} in {args.results}")
    print_targets(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where one configuration's time goes: the GEMMs alone, the fixed call cost, the rest.

    python -m fastrnn_bench.profile lstm:50x64x512[:float32[:1]] ... [--json PATH]
    python -m fastrnn_bench.profile --misses-from grid.json --json profiles.json

A profile splits the engine's forward (``train=False`` and ``train=True``) and
backward time into: the GEMMs of the engine contract timed alone at the same shapes
through the engine's BLAS (minus the loop's per-call cost, a 1x1x1 GEMM); the fixed
call cost (the same cell at T=N=I=H=1); the rest (elementwise passes, memory traffic,
per-step overhead); and the floor (the GEMM FLOPs at the machine's peak). It runs the
C engine when available and the NumPy engine otherwise. Its timer is the library's
block timer (``timing.time_blocks``), not pytest-benchmark: a profile is a
diagnosis, not a record row.
"""

import argparse
import datetime
import sys

from . import import_fastrnn, log
from . import records as records_mod
from .engines import FastrnnEngine, make_inputs
from .gemm import LIBS, gemm_list, gemm_seconds, measure_peak
from .grid import CELL_LABEL, CELLS, DTYPES, gemm_flops, parse_size, size_name
from .report import md_table, target_rows
from .timing import limit_threads, loadavg, time_blocks


def parse_spec(text):
    """(cell, size, dtype, threads) from ``CELL:TxNxH[:DTYPE[:THREADS]]``."""
    parts = text.split(":")
    if len(parts) < 2 or parts[0] not in CELLS:
        raise argparse.ArgumentTypeError(f"profile {text!r}: expected CELL:TxNxH[:DTYPE[:THREADS]]"
                                         f", CELL in {CELLS}")
    dtype = parts[2] if len(parts) > 2 else "float32"
    if dtype not in DTYPES:
        raise argparse.ArgumentTypeError(f"profile {text!r}: dtype must be one of {DTYPES}")
    return (parts[0], parse_size(parts[1]), dtype, int(parts[3]) if len(parts) > 3 else 1)


def run(spec, peak=None, engine=None, budget=6.0):
    """Markdown lines of one profile; ``peak`` in GFLOP/s (measured now if None)."""
    cell, size, dtype, n = spec
    fastrnn = import_fastrnn()
    if engine is None:
        engine = "c" if fastrnn.c_engine_available() else "numpy"
    # a tuned BLAS at the engine's shapes: the C engine runs its own kernels, so this is a
    # reference for them (SciPy's OpenBLAS when installed), not their own time
    lib = "scipy" if engine == "c" and "scipy" in LIBS else "numpy"
    if peak is None:
        peak = measure_peak(dtype, n)
    T, N, I, H = size
    tag = f"{CELL_LABEL[cell]} {size_name(size)} {dtype}, {n} thread{'s' if n > 1 else ''}"
    log(f"profile: {tag}, {engine} engine, GEMMs through {lib}'s BLAS")
    x, dy = make_inputs(size, dtype)
    with limit_threads(n):
        eng = FastrnnEngine(engine, cell, size, dtype, x, dy)
        res = time_blocks({"fwd": eng.calls("fwd"), "fwdbwd": eng.calls("fwdbwd")},
                          max_time=budget / 2, min_rounds=5, max_rounds=300)
        t_fwd = res["fwd"]["median"]
        t_train_fwd = res["fwdbwd"]["part_median"]
        t_bwd = res["fwdbwd"]["median"] - t_train_fwd
        # the fixed per-call cost of the layer API and the engine: the same cell at T=N=I=H=1
        xt, _ = make_inputs((1, 1, 1, 1), dtype)
        small = FastrnnEngine(engine, cell, (1, 1, 1, 1), dtype, xt, xt)
        tiny = time_blocks({"fwd": small.calls("fwd"), "fwdbwd": small.calls("fwdbwd")},
                           max_time=0.3, min_rounds=300, max_rounds=300, rounds=1)
        call_fwd = tiny["fwd"]["median"]
        call_train_fwd = tiny["fwdbwd"]["part_median"]
        call_bwd = tiny["fwdbwd"]["median"] - call_train_fwd
        overhead = gemm_seconds(lib, dtype, 1, 1, 1, min_time=0.1)
        rows, gemm_t = [], {"fwd": 0.0, "bwd": 0.0}
        for M, K, Nn, count, phase, what in gemm_list(cell, size):
            t = max(gemm_seconds(lib, dtype, M, K, Nn, min_time=0.1) - overhead, 0.0)
            gemm_t[phase] += t * count
            rows.append([what, f"{M}x{K}x{Nn}", count, f"{t * 1e6:.2f}",
                         f"{2.0 * M * K * Nn / t / 1e9:.1f}" if t > 0 else "n/a",
                         f"{t * count * 1e3:.3f}"])
    lines = [f"### Profile: {tag} ({'C' if engine == 'c' else 'NumPy'} engine)", ""]
    if engine != "c":
        lines += ["> The C engine was not available: this profiles the NumPy engine instead "
                  "(GEMMs through NumPy's BLAS).", ""]
    lines += [f"Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
              f"load average {loadavg()}. GEMMs alone at the engine's shapes (median per call, "
              f"minus {overhead * 1e6:.2f} us per call of loop overhead, which a 1x1x1 GEMM "
              "measures):", ""]
    lines += [md_table(["GEMM", "M x K x N", "calls", "us per call", "GFLOP/s", "ms in all"],
                       rows), ""]
    split = []
    flops_f = gemm_flops(cell, size)
    for phase, total, call in (("forward (train=False)", t_fwd, call_fwd),
                               ("forward (train=True)", t_train_fwd, call_train_fwd),
                               ("backward", t_bwd, call_bwd)):
        g = gemm_t["fwd" if phase.startswith("forward") else "bwd"]
        rest = total - g - call
        ideal = (flops_f * (2 if phase == "backward" else 1)) / (peak * 1e9) if peak else None
        split.append([phase, f"{total * 1e3:.3f}", f"{g * 1e3:.3f} ({100 * g / total:.0f}%)",
                      f"{call * 1e3:.3f} ({100 * call / total:.0f}%)",
                      f"{rest * 1e3:.3f} ({100 * rest / total:.0f}%)",
                      f"{ideal * 1e3:.3f}" if ideal else "n/a"])
    lines += ["Where the time goes (ms, share of the phase):", ""]
    lines += [md_table(["phase", "engine total", "GEMMs alone", "fixed call cost (T=N=H=1)",
                        "rest: elementwise, memory, per-step overhead",
                        "GEMM FLOPs at peak"], split), ""]
    lines += ["`GEMMs alone` is what BLAS needs for the same products called back to back (an "
              "engine that computes some products itself, e.g. small-batch recurrent ones, is "
              "compared with what BLAS would need for them); `rest` = total - GEMMs - fixed "
              "call cost, i.e. the fused elementwise passes, cache writes, memory traffic and "
              "per-step overhead. `GEMM FLOPs at peak` is the floor at the "
              f"{dtype} peak ({peak:.1f} GFLOP/s).", ""]
    log("\n".join(lines))
    return lines


def misses_from(paths):
    """Profile specs for every float32 1-thread MISS of the runs in ``paths``, and the peaks."""
    data = records_mod.load(paths)
    specs = [(cell, parse_size(sn), "float32", 1)
             for cell, sn in sorted({(t["cell"], t["size"]) for t in target_rows(data)
                                     if t["status"] == "MISS" and t["dtype"] == "float32"
                                     and t["threads"] == 1})]
    return specs, data.peaks


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastrnn_bench.profile",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("spec", nargs="*", type=parse_spec,
                   help="CELL:TxNxH[:DTYPE[:THREADS]], e.g. lstm:50x64x512")
    p.add_argument("--misses-from", nargs="+", metavar="JSON", default=[],
                   help="profile every float32 1-thread MISS of these runs (their GEMM peak too)")
    p.add_argument("--budget", type=float, default=6.0, help="seconds of engine timing each")
    p.add_argument("--json", metavar="PATH", help="write the profiles for the report")
    p.add_argument("--results", metavar="PATH",
                   help="also merge them into this RESULTS.md's Profiles section")
    args = p.parse_args(argv)
    specs, peaks = list(args.spec), {}
    if args.misses_from:
        more, peaks = misses_from(args.misses_from)
        specs += more
    lines = []
    for spec in specs:
        lines += run(spec, peak=peaks.get((spec[2], spec[3])), budget=args.budget)
    meta = dict(kind="profiles", profiles=lines,
                command="python -m fastrnn_bench.profile " + " ".join(argv or sys.argv[1:]))
    if args.json:
        records_mod.write(args.json, [], meta)
    if args.results and lines:
        from .report import write
        write(records_mod.Data([], [dict(meta, source="profile")]), args.results)
    if not specs:
        log("nothing to profile")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The per-step barrier cost, measured, and a model of scaling past 2 cores (issue 11 (d)).

The C engine splits each step of a recurrence by hidden units over its threads
(whole panels of NR units; about four chunks per thread) and ends the step with a
barrier: no thread may start step t+1 before every unit of h_t is written. A step
too small to pay (N*G*H*H multiply-adds below ``STEP_MIN_MACS``) runs on one
thread and has no barrier. The model of a step on p threads:

    time(p) = work * f(p) + barrier(p),    barrier(p) = b * (p - 1)

``work`` is the 1-thread step time (the grid's C time at 1 thread / T), ``f(p)``
the share of the step's panels the busiest thread computes (1/p when the chunks
divide evenly; ``panel_share``), and ``b`` the barrier's cost per extra thread.
Linear, not logarithmic, because the pool's barrier is central: the leader posts
the job to each worker's own mailbox, every thread takes chunks from one shared
counter and signs off on one shared done count, so each extra thread adds one
more handoff of those cache lines between cores, one after another. (A tree or
dissemination barrier would cost ~ b * log2(p); the report shows that too, as
the bound a different barrier could reach.)

``b`` is measured (``measure``), adding nothing to the C code: a forward (and a
training step) with T steps at a size whose step is tiny but still split, once
on 1 thread and once on 2, alternating; then per step

    b = t(2 threads) / T - t(1 thread) / T / 2

(the 2-thread step time minus half the 1-thread one). The sizes (``SIZES``) have
an even number of panels of NR units for every ISA (H = 96: 2 panels of 48 for
AVX-512 float32, 4 of 24 for float64, 6 or 12 for AVX2), so the 2-thread split is
even and no imbalance is charged to the barrier; N is the smallest that splits
(SRN needs N = 4: N*H*H must reach ``STEP_MIN_MACS``).

    python -m fastrnn_bench.scaling --json barrier.json          # or bench/barrier.py
    python -m fastrnn_bench.report grid.json barrier.json --scaling bench/SCALING.md
"""

import argparse
import math
import os
import re
import sys

import numpy as np

from . import REPO, import_fastrnn, log
from . import records as records_mod
from .engines import FastrnnEngine, make_inputs
from .grid import CELLS, DTYPES, GATES, MODES, size_name
from .timing import LoadMeter, limit_threads, time_blocks

# csrc/fr_impl.h: a step is split over threads only from this many multiply-adds on
STEP_MIN_MACS = 32768
# csrc/fr_impl.h split_units: about this many chunks per thread
CHUNKS_PER_THREAD = 4
T_STEPS = 2000
SIZES = {"srn": (T_STEPS, 4, 96, 96), "lstm": (T_STEPS, 2, 96, 96), "gru": (T_STEPS, 2, 96, 96)}
PREDICT_AT = (2, 4, 8, 16)


# --- the engine's split, from its source ------------------------------------------------------

def panel_width(isa, dtype, csrc=os.path.join(REPO, "csrc")):
    """NR, the units of one panel (``FR_NRV * FR_VBYTES / itemsize``), read from
    ``csrc/isa_<isa>.c``; None when the source is not there (an installed fastrnn)."""
    try:
        with open(os.path.join(csrc, f"isa_{isa}.c")) as f:
            text = f.read()
    except (OSError, TypeError):
        return None
    vbytes = re.search(r"#define FR_VBYTES (\d+)", text)
    nrv = re.search(r"#define FR_NRV (\d+)", text)
    if not vbytes or not nrv:
        return None
    return int(nrv.group(1)) * int(vbytes.group(1)) // np.dtype(dtype).itemsize


def is_split(cell, N, H):
    """Whether a step of this size runs on more than one thread (csrc/fr_impl.h)."""
    return N * GATES[cell] * H * H >= STEP_MIN_MACS


def panel_share(H, nr, p):
    """The share of a step's panels the busiest of p threads computes (split_units in
    csrc/fr_impl.h: ~4 chunks per thread of whole panels; the chunks are taken in turn)."""
    if p <= 1:
        return 1.0
    if not nr:
        return 1.0 / p
    panels = -(-H // nr)
    want = min(CHUNKS_PER_THREAD * p, panels)
    per = -(-panels // want)
    nchunks = -(-panels // per)
    return min(1.0, -(-nchunks // p) * per / panels)


def barrier(b, p, form="linear"):
    """The barrier's cost on p threads: b*(p-1) (the pool's, central) or b*log2(p) (a tree)."""
    if p <= 1:
        return 0.0
    return b * (p - 1) if form == "linear" else b * math.log2(p)


def predict(work, b, H, nr, p, split=True, form="linear"):
    """Speed-up on p threads of a step that takes ``work`` on one (None without b)."""
    if not split or p <= 1:
        return 1.0
    if b is None:
        return None
    return work / (work * panel_share(H, nr, p) + max(0.0, barrier(b, p, form)))


def best_threads(work, b, H, nr, split=True, limit=64):
    """(p, speed-up) of the thread count with the highest predicted speed-up, p <= limit."""
    if not split or b is None:
        return 1, 1.0
    return max(((p, predict(work, b, H, nr, p, split)) for p in range(1, limit + 1)),
               key=lambda ps: ps[1])


def barrier_per_step(records):
    """{(cell, dtype, mode): dict(b, t1_step, t2_step, busy, ...)} from ``barrier`` records."""
    by = {}
    for r in records:
        by.setdefault((r["cell"], r["dtype"], r["mode"]), {})[r["threads"]] = r
    out = {}
    for key, rs in by.items():
        if 1 in rs and 2 in rs:
            T = rs[1]["T"]
            t1, t2 = rs[1]["median_s"] / T, rs[2]["median_s"] / T
            out[key] = dict(b=t2 - t1 / 2, t1_step=t1, t2_step=t2, size=rs[1]["size"],
                            N=rs[1]["N"], H=rs[1]["H"], T=T,
                            busy=rs[1].get("busy") or rs[2].get("busy"),
                            stalls=(rs[2].get("stalls") or 0) + (rs[1].get("stalls") or 0),
                            others=max(rs[1].get("others") or 0, rs[2].get("others") or 0),
                            quick=rs[1].get("quick"))
    return out


# --- the measurement ------------------------------------------------------------------------------

def measure(cells=CELLS, dtypes=DTYPES, modes=MODES, max_time=1.0, min_rounds=5, quick=False):
    """``barrier`` records: each (cell, dtype, mode) at its ``SIZES`` size, 1 and 2 threads
    alternating in 3 rounds; the two thread counts must give the same bits."""
    fastrnn = import_fastrnn()
    if not fastrnn.c_engine_available() or not hasattr(fastrnn, "set_num_threads"):
        raise SystemExit("the barrier benchmark needs today's C engine (its own threads, "
                         "fastrnn.set_num_threads): build it with `python setup.py build_ext "
                         "--inplace`")
    from .machine import kernels
    isa = kernels(fastrnn).get("isa")
    recs = []
    for cell in cells:
        size = SIZES[cell]
        if quick:
            size = (50,) + size[1:]
        T, N, I, H = size
        for dtype in dtypes:
            x, dy = make_inputs(size, dtype)
            eng = FastrnnEngine("c", cell, size, dtype, x, dy)
            with limit_threads(1):
                outs = {}
                for n in (1, 2):
                    fastrnn.set_num_threads(n)
                    outs[n] = eng.run_all()
                for name, a in outs[1].items():
                    if not np.array_equal(a, outs[2][name]):
                        raise SystemExit(f"barrier {cell} {size_name(size)} {dtype}: {name} "
                                         "differs between 1 and 2 threads (the engine "
                                         "promises the same bits)")
                for mode in modes:
                    setup, target = eng.calls(mode)
                    calls = {n: (_with_threads(fastrnn, n, setup), target) for n in (1, 2)}
                    meter = LoadMeter(threads=2).start()
                    res = time_blocks(calls, max_time, min_rounds, 100000, rounds=3)
                    load = meter.stop()
                    for n in (1, 2):
                        recs.append(dict(table="barrier", cell=cell, T=T, N=N, I=I, H=H,
                                         size=size_name(size), dtype=dtype, mode=mode,
                                         threads=n, median_s=res[n]["median"],
                                         min_s=res[n]["min"], iqr_s=res[n]["iqr"],
                                         reps=res[n]["reps"], isa=isa,
                                         nr=panel_width(isa, dtype), split=is_split(cell, N, H),
                                         quick=quick, **load))
                    b = res[2]["median"] / T - res[1]["median"] / T / 2
                    log(f"  barrier {cell} {size_name(size)} {dtype} {mode}: "
                        f"{res[1]['median'] / T * 1e6:.3f} us/step on 1 thread, "
                        f"{res[2]['median'] / T * 1e6:.3f} on 2: b = {b * 1e6:.3f} us "
                        f"(others {load['others']}, stalls {load['stalls']})")
    return recs


def _with_threads(fastrnn, n, setup):
    def call():
        fastrnn.set_num_threads(n)
        if setup is not None:
            setup()
    return call


def main(argv=None):
    p = argparse.ArgumentParser(prog="python bench/barrier.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", default=",".join(CELLS))
    p.add_argument("--dtypes", default=",".join(DTYPES))
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--max-time", type=float, default=1.0,
                   help="seconds of timing per thread count and row")
    p.add_argument("--quick", action="store_true", help="a smoke run of the harness")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--json", metavar="PATH", help="write the records here")
    args = p.parse_args(argv)
    from .grid import csv_list
    if args.wait_idle > 0:
        from .timing import wait_idle
        wait_idle(args.wait_idle)
    recs = measure(csv_list(args.cells), csv_list(args.dtypes), csv_list(args.modes),
                   max_time=0.02 if args.quick else args.max_time,
                   min_rounds=3 if args.quick else 5, quick=args.quick)
    from .machine import describe
    meta = dict(kind="barrier", quick=args.quick, machine=describe(),
                command="python bench/barrier.py " + " ".join(sys.argv[1:] if argv is None
                                                               else argv))
    if args.json:
        records_mod.write(args.json, recs, meta)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

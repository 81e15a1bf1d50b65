"""The T=1 forward overhead: one step at the binding, functional and layer levels.

A forward with T=1, N=1, input = hidden = H (16 and 256), float32, the C engine,
``train=False`` and ``train=True``, for SRN(tanh), LSTM and GRU, the state passed in
(what a streaming loop does), at three levels:

==========  ====================================================================
level       the call
==========  ====================================================================
binding     ``_ext.<cell>_forward(...)`` with prepared arrays (``layouts.py``)
functional  ``fastrnn.functional.<cell>_forward(x, h0[, c0], W_ih, W_hh, b_ih, b_hh)``
layer       ``fastrnn.<Cell>(H, H).forward(x, state, train=...)``
==========  ====================================================================

The three levels are checked to give the same output bit for bit before anything
is timed. Timing is pytest-benchmark's (``bench/test_overhead.py``); this module
builds the calls, and its ``main`` runs that test file against one or more source
trees, each in its own process, and writes the before/after table:

    python bench/overhead.py                                   # this checkout
    python bench/overhead.py --tree before=/work/wt/before/src --tree after=src
    python bench/overhead.py --tree before=... --tree after=... --repeat 2 --quick

A tree is a ``src`` directory with fastrnn built in place (``python setup.py
build_ext --inplace`` in its checkout). With ``--repeat K`` the trees alternate K
times (A B, B A, ...) and each row keeps its fastest median (``trees.py``, which
``before.py`` shares).
"""

import os
import sys

import numpy as np

from . import import_fastrnn, log
from . import records as records_mod
from .engines import make_layer
from .layouts import binding_forward, prepared_arrays
from .trees import parse_tree_args, run_trees, tree_parser
from .validation import Mismatch

CELLS = ("srn", "lstm", "gru")
HIDDEN = (16, 256)
TRAINS = (False, True)
LEVELS = ("binding", "functional", "layer")
DTYPE = "float32"
# pytest options for --quick: a smoke run of the harness, not a measurement
QUICK_ARGS = ("--benchmark-max-time=0.01", "--benchmark-min-rounds=3",
              "--benchmark-warmup-iterations=10")


def t1_calls(cell, H, train, dtype=DTYPE):
    """{level: zero-argument call} of one T=1 forward, the levels checked to agree."""
    fastrnn = import_fastrnn()
    fastrnn.set_backend("c")
    layer = make_layer(cell, (1, 1, H, H), dtype)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 1, H)).astype(dtype)
    h = (0.5 * rng.standard_normal((1, 1, H))).astype(dtype)
    c = (0.5 * rng.standard_normal((1, 1, H))).astype(dtype)
    state = (h, c) if cell == "lstm" else h
    a = prepared_arrays(cell, layer, x, state)
    F = fastrnn.functional
    if cell == "srn":
        def functional():
            return F.srn_forward(x, a.h0, a.W_ih, a.W_hh, a.b_ih, a.b_hh, train=train)
    elif cell == "lstm":
        def functional():
            return F.lstm_forward(x, a.h0, a.c0, a.W_ih, a.W_hh, a.b_ih, a.b_hh, train=train)
    else:
        def functional():
            return F.gru_forward(x, a.h0, a.W_ih, a.W_hh, a.b_ih, a.b_hh, train=train)

    def layer_call():
        return layer.forward(x, state, train=train)
    calls = {"binding": binding_forward(fastrnn, cell, a, train), "functional": functional,
             "layer": layer_call}
    ys = {level: np.asarray(call()[0]) for level, call in calls.items()}
    for level, y in ys.items():
        if not np.array_equal(y, ys["layer"]):
            raise Mismatch(f"T=1 {cell} H={H} train={train}: the {level} level's y differs "
                           f"from the layer's: {y.ravel()[:4]} vs {ys['layer'].ravel()[:4]}")
    return calls


# --- several trees, each in its own process --------------------------------------------------

def row_key(r):
    return (r["tree"], r["cell"], r["H"], r["train"], r["level"])


def main(argv=None):
    p = tree_parser("python bench/overhead.py", __doc__.split("\n\n")[0],
                    "Arguments after `--` go to pytest (e.g. -k lstm).",
                    "a source tree to measure (repeatable; the first is the baseline of the "
                    "ratios); default: this checkout's src/", 1,
                    "first wait up to SECONDS for other processes to leave the CPUs",
                    "rebuild the overhead section of this file (default bench/RESULTS.md)")
    args, trees, extra, command = parse_tree_args(p, argv)
    pytest_args = list(QUICK_ARGS if args.quick else ()) + extra
    recs, metas = run_trees(trees, "test_overhead.py", pytest_args, "overhead", row_key,
                            args.repeat)
    meta = dict(kind="overhead-trees", trees=[dict(name=n, src=os.path.abspath(s))
                                              for n, s in trees],
                repeat=args.repeat, quick=args.quick, runs=metas, command=command)
    if args.json:
        records_mod.write(args.json, recs, meta)
        log(f"wrote {args.json}")
    from . import report
    data = records_mod.Data([dict(r, source="trees") for r in recs], [dict(meta, source="trees")])
    if args.no_write:
        print(report.overhead_section(data))
    else:
        report.write(data, args.results)
        log(f"rebuilt the overhead section of {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

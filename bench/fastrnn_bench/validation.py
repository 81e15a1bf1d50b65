"""Validate, then time: every engine against the NumPy engine at the benchmark size.

Before a (cell, size, dtype, threads) configuration is timed, every engine runs it
once (``Engine.run_all``). The C engine and torch must match the NumPy engine on y,
the final states, dx, dstate0 (C only: torch does not return it) and every
parameter gradient, and each engine's ``train=False`` output must match its
``train=True`` output. The error is ``max|a - ref| / max|ref|``; the tolerance is
``grid.RTOL`` (1e-4 float32, 1e-10 float64). A mismatch raises ``Mismatch``
naming the array, the worst element and both values; the runners abort on it
(exit status 2).
"""

import traceback

import numpy as np

from .grid import ENGINE_LABEL, RTOL, size_name


class Mismatch(Exception):
    """An engine disagrees with the NumPy engine beyond the tolerance."""


def rel_err(a, ref):
    """(max|a - ref| / max|ref|, where the worst element is and its two values)."""
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        return float("inf"), f"shape {a.shape} != {ref.shape}"
    diff = np.abs(a - ref)
    if not np.all(np.isfinite(diff)):
        bad = np.unravel_index(np.flatnonzero(~np.isfinite(diff))[0], diff.shape)
        return float("inf"), f"non-finite at {tuple(int(i) for i in bad)}"
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    scale = float(np.max(np.abs(ref)))
    err = float(diff[worst]) / (scale if scale > 0 else 1.0)
    return err, (f"worst at {tuple(int(i) for i in worst)}: {float(a[worst]):.9g} vs "
                 f"{float(ref[worst]):.9g} (max|ref| = {scale:.3g})")


def compare(what, got, ref, rtol, keys=None):
    """Max relative error over the shared keys; raises Mismatch naming the first bad array."""
    keys = [k for k in ref if k in got] if keys is None else keys
    missing = [k for k in ref if k not in got and not k.startswith(("dc0", "dh0"))]
    if missing:
        raise Mismatch(f"{what}: missing {missing}")
    worst = 0.0
    for k in keys:
        err, where = rel_err(got[k], ref[k])
        if not err <= rtol:
            raise Mismatch(f"{what}: {k} differs: relative error {err:.3g} > {rtol:g}; {where}")
        worst = max(worst, err)
    return worst


def validate(config, engines):
    """Run every engine of one config once and compare it with the NumPy engine.

    ``config`` is (cell, size, dtype, threads), run by the caller under that thread
    limit. Returns ``(live, validations, problems)``: the engines that ran, one
    record per comparison, and a message per engine that raised. Raises
    ``Mismatch`` on a disagreement.
    """
    cell, size, dtype, threads = config
    tag = f"{cell} {size_name(size)} {dtype} {threads}thr"
    rtol = RTOL[dtype]
    outs, live, problems, validations = {}, {}, [], []
    for name, eng in engines.items():
        try:
            outs[name] = eng.run_all()
            live[name] = eng
        except Exception as exc:  # noqa: BLE001 - reported; the other engines go on
            problems.append(f"{tag}: the {ENGINE_LABEL[name]} engine raised "
                            f"{type(exc).__name__}: {exc}\n"
                            + "".join(traceback.format_exc(limit=3)))

    def note(pair, err, arrays):
        validations.append(dict(config=tag, cell=cell, size=size_name(size), dtype=dtype,
                                threads=threads, pair=pair, max_rel_err=err, rtol=rtol,
                                arrays=arrays))

    ref = outs.get("numpy")
    if ref is not None:
        for name in ("c", "torch"):
            if name in outs:
                keys = [k for k in ref if k in outs[name]]
                err = compare(f"{tag}: {ENGINE_LABEL[name]} engine vs NumPy engine",
                              outs[name], ref, rtol, keys)
                note(f"{name} vs numpy", err, len(keys))
    for name, got in outs.items():
        err = compare(f"{tag}: {ENGINE_LABEL[name]} forward train=False vs train=True",
                      {"y": got["y(train=False)"]}, {"y": got["y"]}, rtol)
        note(f"{name} train=False vs train=True", err, 1)
    return live, validations, problems

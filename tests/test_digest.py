"""Bit-identity pin: SHA-256 digests of every output, state and gradient of both engines.

A restructure that moves code must not change one bit of a result. This test
runs a fixed set of configurations (every cell and variant of conftest's
CELL_VARIANTS; one and two layers, bidirectional, lengths with NaN padding,
batch_first, no bias, the reverse direction with the state-gradient trace,
inner sizes large enough for the C engine's packed kernels; float32 and
float64) forward (training and inference) and backward, on the NumPy engine
and on the C engine under every instruction set this CPU has, each on one
and on two threads (the C engine's bits must not depend on its thread
count: both are compared with the same pin), and compares a digest of each
array against the one pinned below. A mismatch names the configuration, the
dtype, the engine and every array that differs.

The pins hold for one platform: the NumPy engine's bits depend on NumPy's
BLAS build (the C engine's only on its instruction set: it calls no BLAS), so
the pinned table records that build and the test skips, saying why, on
another one. Regenerate (only when a change of results is intended and
understood) with::

    PYTHONPATH=src python tests/test_digest.py --update
"""

import hashlib
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import fastrnn
import fastrnn.functional as F
from conftest import CELL_VARIANTS, make_layer, variant_id

DTYPES = (np.float32, np.float64)

# name -> (API, sizes T, N, I, H, layer options, lengths, seed)
CONFIGS = {
    "plain": ("layer", (6, 4, 3, 5), dict(num_layers=1), None, 11),
    "deep": ("layer", (7, 4, 3, 5), dict(num_layers=2, bidirectional=True, batch_first=True),
             [7, 3, 5, 1], 12),
    "trace": ("functional", (6, 3, 4, 6), dict(bias=False, reverse=True), [4, 6, 1], 13),
    "wide": ("layer", (4, 3, 64, 64), dict(num_layers=1), [4, 2, 3], 14),
}
# C-engine thread counts, each checked against the same pins
THREADS = (1, 2)


def _digest(a):
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:8]


def _fill(rng, shape, scale):
    return rng.uniform(-scale, scale, size=shape)


def _run_layer(variant, sizes, opts, lengths, seed, dtype):
    T, N, I, H = sizes
    rng = np.random.default_rng(seed)
    layer = make_layer(variant, input_size=I, hidden_size=H, dtype=dtype, seed=0, **opts)
    for name in sorted(layer.params):       # independent of the flat layout's order
        layer.params[name][...] = _fill(rng, layer.params[name].shape, 1.5 / np.sqrt(H))
    x = rng.standard_normal((T, N, I))
    if lengths is not None:
        x[np.arange(T)[:, None] >= np.array(lengths)[None, :]] = np.nan  # padding: anything
        lengths = np.array(lengths)
    batch_first = opts.get("batch_first", False)
    if batch_first:
        x = x.swapaxes(0, 1)
    L, D = layer.num_layers, layer.num_directions
    lstm = isinstance(layer, fastrnn.LSTM)
    s0 = [rng.standard_normal((L * D, N, H)) for _ in range(2 if lstm else 1)]
    state0 = tuple(s0) if lstm else s0[0]
    dy_shape = (N, T, D * H) if batch_first else (T, N, D * H)
    dy = rng.standard_normal(dy_shape)
    ds = [rng.standard_normal((L * D, N, H)) for _ in range(2 if lstm else 1)]
    dstate = tuple(ds) if lstm else ds[0]
    out = {}
    y_inf, s_inf = layer.forward(x.astype(dtype), state0, lengths=lengths, train=False)
    y, state = layer.forward(x.astype(dtype), state0, lengths=lengths, train=True)
    dx, dstate0 = layer.backward(dy.astype(dtype), dstate)
    out["y"] = y
    for j, s in enumerate(state if lstm else (state,)):
        out["hT" if j == 0 else "cT"] = s
    out["y(train=False)"] = y_inf
    for j, s in enumerate(s_inf if lstm else (s_inf,)):
        out["hT(train=False)" if j == 0 else "cT(train=False)"] = s
    out["dx"] = dx
    for j, s in enumerate(dstate0 if lstm else (dstate0,)):
        out["dh0" if j == 0 else "dc0"] = s
    for l in range(L):
        for d in range(D):
            part = f"l{l}" + ("_reverse" if d else "")
            names = sorted(n for n in layer.grads if n.endswith("_" + part))
            out[f"grads[{part}]"] = np.concatenate([layer.grads[n].ravel() for n in names])
    return out


def _run_functional(variant, sizes, opts, lengths, seed, dtype):
    T, N, I, H = sizes
    cls, kw = variant
    cell = cls.lower()
    G = F.GATES[cell]
    rng = np.random.default_rng(seed)
    W_ih = _fill(rng, (G * H, I), 1.5 / np.sqrt(H)).astype(dtype)
    W_hh = _fill(rng, (G * H, H), 1.5 / np.sqrt(H)).astype(dtype)
    x = rng.standard_normal((T, N, I))
    lengths = np.array(lengths)
    x[np.arange(T)[:, None] >= lengths[None, :]] = np.nan
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dy, dhT, dcT = (rng.standard_normal(s) for s in ((T, N, H), (N, H), (N, H)))
    x, h0, c0, dy, dhT, dcT = (a.astype(dtype) for a in (x, h0, c0, dy, dhT, dcT))
    common = dict(lengths=lengths, reverse=opts["reverse"], train=True)
    if cell == "lstm":
        y, hT, cT, cache = F.lstm_forward(x, h0, c0, W_ih, W_hh, **common)
        res = F.lstm_backward(dy, dhT, dcT, cache, state_grads=True)
        out = dict(y=y, hT=hT, cT=cT)
    else:
        fwd, bwd = (F.srn_forward, F.srn_backward) if cell == "srn" else \
            (F.gru_forward, F.gru_backward)
        y, hT, cache = fwd(x, h0, W_ih, W_hh, **common, **kw)
        res = bwd(dy, dhT, cache, state_grads=True)
        out = dict(y=y, hT=hT)
    for key in ("dx", "dh0", "dc0", "dW_ih", "dW_hh", "dh_seq", "dc_seq"):
        if res.get(key) is not None:
            out[key] = res[key]
    return out


def run_config(variant, config, dtype):
    """{array name: array} of one configuration on the current engine."""
    api, sizes, opts, lengths, seed = CONFIGS[config]
    run = _run_layer if api == "layer" else _run_functional
    with np.errstate(all="ignore"):
        return run(variant, sizes, opts, lengths, seed, dtype)


# --- engines and the platform ---------------------------------------------------------

def platform():
    """The BLAS builds that decide the NumPy engine's bits (threadpoolctl's view)."""
    from threadpoolctl import threadpool_info
    libs = sorted(f"{i['internal_api']} {i.get('version')} {i.get('architecture')}"
                  for i in threadpool_info() if i["user_api"] == "blas")
    return "; ".join(libs)


def engines():
    """The engine settings to pin: "numpy", and "c/<isa>" for each instruction set."""
    names = ["numpy"]
    if fastrnn.c_engine_available():
        from fastrnn.core import _ext
        names += [f"c/{isa}" for isa in _ext.available_isas()]
    return names


@contextmanager
def engine(name, threads=1):
    """Select an engine setting (the C engine on ``threads`` threads); NumPy's BLAS
    runs one thread throughout."""
    from threadpoolctl import threadpool_limits
    previous = fastrnn.get_backend()
    with threadpool_limits(1, user_api="blas"):
        if name == "numpy":
            fastrnn.set_backend("numpy")
            try:
                yield
            finally:
                fastrnn.set_backend(previous)
            return
        from fastrnn.core import _ext
        isa = name.split("/")[1]
        fastrnn.set_backend("c")
        isa_before = _ext.isa_setting()
        _ext.set_isa(isa)
        threads_before = fastrnn.set_num_threads(threads)
        try:
            yield
        finally:
            fastrnn.set_num_threads(threads_before)
            _ext.set_isa(isa_before)
            fastrnn.set_backend(previous)


def compute_all(variant, config, threads=1):
    """{(dtype name, engine name): {array name: digest}} of one (variant, configuration),
    the C engine on ``threads`` threads."""
    out = {}
    for dtype in DTYPES:
        for name in engines():
            with engine(name, threads):
                arrays = run_config(variant, config, dtype)
            out[(np.dtype(dtype).name, name)] = {k: _digest(v) for k, v in arrays.items()}
    return out


def _key(variant, config, dtype, eng):
    return f"{variant_id(variant)} {config} {dtype} {eng}"


# --- the pinned table -------------------------------------------------------------------

def _parse(text):
    pinned = {}
    for line in text.strip().splitlines():
        variant, config, dtype, eng, *arrays = line.split()
        pinned[(variant, config, dtype, eng)] = dict(a.rsplit("=", 1) for a in arrays)
    return pinned


@pytest.fixture(scope="module")
def pinned():
    pytest.importorskip("threadpoolctl")
    here = platform()
    if here != PINNED_PLATFORM:
        pytest.skip(f"digests are pinned for the BLAS builds '{PINNED_PLATFORM}', this is "
                    f"'{here}': the bits legitimately differ (regenerate on this platform "
                    "with 'python tests/test_digest.py --update' to use it here)")
    return _parse(PINNED)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_results_are_bit_identical_to_the_pinned_digests(pinned, variant, config):
    problems = []
    for threads in THREADS:
        for (dtype, eng), got in compute_all(variant, config, threads).items():
            if eng == "numpy" and threads > 1:
                continue  # the C engine's setting: nothing to check twice
            where = f"{dtype} {eng}" + (f" on {threads} threads" if eng != "numpy" else "")
            want = pinned.get((variant_id(variant), config, dtype, eng))
            if want is None:
                problems.append(f"{where}: no pinned digest (a new engine setting?)")
                continue
            if list(got) != list(want):
                problems.append(f"{where}: arrays {list(got)}, pinned {list(want)}")
                continue
            bad = [k for k in got if got[k] != want[k]]
            if bad:
                problems.append(f"{where}: {', '.join(bad)} differ")
    assert not problems, (f"{variant_id(variant)}, configuration {config!r} "
                          f"{CONFIGS[config]}: results changed:\n  " + "\n  ".join(problems))


def test_digests_are_repeatable():
    """The digest inputs are deterministic: two runs of one configuration agree bit for bit."""
    pytest.importorskip("threadpoolctl")
    variant = CELL_VARIANTS[4]
    assert compute_all(variant, "deep") == compute_all(variant, "deep")


def _table():
    lines = []
    for config in CONFIGS:
        for variant in CELL_VARIANTS:
            for (dtype, eng), got in compute_all(variant, config).items():
                arrays = " ".join(f"{k}={v}" for k, v in got.items())
                lines.append(f"{_key(variant, config, dtype, eng)} {arrays}")
    return "\n".join(lines)


def _update(path):
    """Rewrite the pinned block of this file (from its PINNED_PLATFORM line on) from the
    current code."""
    text = Path(path).read_text()
    start = text.index("\nPINNED_PLATFORM = ") + 1
    end = text.index("\n\n\nif __name__ ==", start)
    block = (f'PINNED_PLATFORM = "{platform()}"\n\n'
             f'PINNED = """\n{_table()}\n"""')
    Path(path).write_text(text[:start] + block + text[end:])


# --- pinned digests: generated by `python tests/test_digest.py --update` ----------------
# (no line-length limit below: one line per variant, configuration, dtype and engine)

PINNED_PLATFORM = "openblas 0.3.31.188.0 SkylakeX"

PINNED = """
SRN-nonlinearity=tanh plain float32 numpy y=20d2f7ac hT=0eb36d47 y(train=False)=20d2f7ac hT(train=False)=0eb36d47 dx=37741641 dh0=d7e0e232 grads[l0]=f425a8c2
SRN-nonlinearity=tanh plain float32 c/generic y=fda0f1ff hT=1e489671 y(train=False)=fda0f1ff hT(train=False)=1e489671 dx=20b9b4fc dh0=1fa30c3a grads[l0]=27bdd307
SRN-nonlinearity=tanh plain float32 c/avx2 y=5a6edafd hT=bcbf3801 y(train=False)=5a6edafd hT(train=False)=bcbf3801 dx=924f5b2d dh0=462445b3 grads[l0]=bc883e2f
SRN-nonlinearity=tanh plain float32 c/avx512 y=5a6edafd hT=bcbf3801 y(train=False)=5a6edafd hT(train=False)=bcbf3801 dx=924f5b2d dh0=462445b3 grads[l0]=bc883e2f
SRN-nonlinearity=tanh plain float64 numpy y=29ea656c hT=12ce6c01 y(train=False)=29ea656c hT(train=False)=12ce6c01 dx=0833ade7 dh0=6a1d9718 grads[l0]=a9d135f4
SRN-nonlinearity=tanh plain float64 c/generic y=99ef3dab hT=06b3e638 y(train=False)=99ef3dab hT(train=False)=06b3e638 dx=059ef132 dh0=376a09b0 grads[l0]=df640378
SRN-nonlinearity=tanh plain float64 c/avx2 y=e8cb823e hT=65a1fa74 y(train=False)=e8cb823e hT(train=False)=65a1fa74 dx=ee892c7c dh0=0f153dab grads[l0]=d1b67620
SRN-nonlinearity=tanh plain float64 c/avx512 y=e8cb823e hT=65a1fa74 y(train=False)=e8cb823e hT(train=False)=65a1fa74 dx=ee892c7c dh0=0f153dab grads[l0]=d1b67620
SRN-nonlinearity=relu plain float32 numpy y=a7ee8274 hT=59cdf59c y(train=False)=a7ee8274 hT(train=False)=59cdf59c dx=c67fa9af dh0=dd0202dd grads[l0]=5cdcb86b
SRN-nonlinearity=relu plain float32 c/generic y=e8bf2cdd hT=5c959d0f y(train=False)=e8bf2cdd hT(train=False)=5c959d0f dx=8b22cf97 dh0=3109baef grads[l0]=7fe9dda8
SRN-nonlinearity=relu plain float32 c/avx2 y=a7ee8274 hT=59cdf59c y(train=False)=a7ee8274 hT(train=False)=59cdf59c dx=c67fa9af dh0=dd0202dd grads[l0]=5cdcb86b
SRN-nonlinearity=relu plain float32 c/avx512 y=a7ee8274 hT=59cdf59c y(train=False)=a7ee8274 hT(train=False)=59cdf59c dx=c67fa9af dh0=dd0202dd grads[l0]=5cdcb86b
SRN-nonlinearity=relu plain float64 numpy y=5f7eb7ee hT=a8c4d314 y(train=False)=5f7eb7ee hT(train=False)=a8c4d314 dx=d5692b01 dh0=c92c19c3 grads[l0]=241c5555
SRN-nonlinearity=relu plain float64 c/generic y=3496daf7 hT=d161bb7e y(train=False)=3496daf7 hT(train=False)=d161bb7e dx=0ee519f0 dh0=da8724d5 grads[l0]=24265b18
SRN-nonlinearity=relu plain float64 c/avx2 y=5f7eb7ee hT=a8c4d314 y(train=False)=5f7eb7ee hT(train=False)=a8c4d314 dx=d5692b01 dh0=c92c19c3 grads[l0]=241c5555
SRN-nonlinearity=relu plain float64 c/avx512 y=5f7eb7ee hT=a8c4d314 y(train=False)=5f7eb7ee hT(train=False)=a8c4d314 dx=d5692b01 dh0=c92c19c3 grads[l0]=241c5555
SRN-nonlinearity=sigmoid plain float32 numpy y=de915afd hT=bf372e9e y(train=False)=de915afd hT(train=False)=bf372e9e dx=1d2154b1 dh0=4a7755c6 grads[l0]=ee6aa8cd
SRN-nonlinearity=sigmoid plain float32 c/generic y=42830d41 hT=8e66333d y(train=False)=42830d41 hT(train=False)=8e66333d dx=e443103e dh0=30f172ea grads[l0]=22ace421
SRN-nonlinearity=sigmoid plain float32 c/avx2 y=30a81ff2 hT=351c1392 y(train=False)=30a81ff2 hT(train=False)=351c1392 dx=cdfae4c0 dh0=ecc96f89 grads[l0]=248a3676
SRN-nonlinearity=sigmoid plain float32 c/avx512 y=30a81ff2 hT=351c1392 y(train=False)=30a81ff2 hT(train=False)=351c1392 dx=cdfae4c0 dh0=ecc96f89 grads[l0]=248a3676
SRN-nonlinearity=sigmoid plain float64 numpy y=26cd9a87 hT=1d56f36a y(train=False)=26cd9a87 hT(train=False)=1d56f36a dx=69d6c1df dh0=d5a9ba3a grads[l0]=a65c938d
SRN-nonlinearity=sigmoid plain float64 c/generic y=5b669b42 hT=fa8bdb00 y(train=False)=5b669b42 hT(train=False)=fa8bdb00 dx=855ea925 dh0=e8a2a796 grads[l0]=b504b571
SRN-nonlinearity=sigmoid plain float64 c/avx2 y=f7eef225 hT=1d56f36a y(train=False)=f7eef225 hT(train=False)=1d56f36a dx=b910f01e dh0=d4e52bfc grads[l0]=98c1eace
SRN-nonlinearity=sigmoid plain float64 c/avx512 y=f7eef225 hT=1d56f36a y(train=False)=f7eef225 hT(train=False)=1d56f36a dx=b910f01e dh0=d4e52bfc grads[l0]=98c1eace
SRN-nonlinearity=tanh-residual=True plain float32 numpy y=e4cc7ddf hT=095fb86d y(train=False)=e4cc7ddf hT(train=False)=095fb86d dx=1c28b0f2 dh0=4a651047 grads[l0]=a9e2b2a6
SRN-nonlinearity=tanh-residual=True plain float32 c/generic y=079a231b hT=24a16346 y(train=False)=079a231b hT(train=False)=24a16346 dx=60aa402d dh0=991f1d21 grads[l0]=3ab286fc
SRN-nonlinearity=tanh-residual=True plain float32 c/avx2 y=69129f9d hT=e770c1fa y(train=False)=69129f9d hT(train=False)=e770c1fa dx=13cac0cf dh0=c0f577f5 grads[l0]=e04f5044
SRN-nonlinearity=tanh-residual=True plain float32 c/avx512 y=69129f9d hT=e770c1fa y(train=False)=69129f9d hT(train=False)=e770c1fa dx=13cac0cf dh0=c0f577f5 grads[l0]=e04f5044
SRN-nonlinearity=tanh-residual=True plain float64 numpy y=4b1a80cb hT=f7e13aab y(train=False)=4b1a80cb hT(train=False)=f7e13aab dx=26b3b890 dh0=edcc7efe grads[l0]=07a1f43e
SRN-nonlinearity=tanh-residual=True plain float64 c/generic y=89722c70 hT=f2274789 y(train=False)=89722c70 hT(train=False)=f2274789 dx=bc92fd7e dh0=4204a52b grads[l0]=379f754e
SRN-nonlinearity=tanh-residual=True plain float64 c/avx2 y=738822a0 hT=01b13e79 y(train=False)=738822a0 hT(train=False)=01b13e79 dx=22f8c4d6 dh0=420bbf82 grads[l0]=dfbdd866
SRN-nonlinearity=tanh-residual=True plain float64 c/avx512 y=738822a0 hT=01b13e79 y(train=False)=738822a0 hT(train=False)=01b13e79 dx=22f8c4d6 dh0=420bbf82 grads[l0]=dfbdd866
LSTM plain float32 numpy y=2c59bb2c hT=f1e59d60 cT=26b1fcf0 y(train=False)=2c59bb2c hT(train=False)=f1e59d60 cT(train=False)=26b1fcf0 dx=db8c1097 dh0=3ab1d5de dc0=3017fc50 grads[l0]=cecb9699
LSTM plain float32 c/generic y=f4cea971 hT=8d59ae16 cT=5fc778f3 y(train=False)=f4cea971 hT(train=False)=8d59ae16 cT(train=False)=5fc778f3 dx=c49c1d1e dh0=c05451ec dc0=1ca7a52a grads[l0]=18f45f2f
LSTM plain float32 c/avx2 y=f76a8a86 hT=94876dcd cT=4f226dbb y(train=False)=f76a8a86 hT(train=False)=94876dcd cT(train=False)=4f226dbb dx=7f7f65d4 dh0=4c719832 dc0=728cc753 grads[l0]=5d3ca65b
LSTM plain float32 c/avx512 y=f76a8a86 hT=94876dcd cT=4f226dbb y(train=False)=f76a8a86 hT(train=False)=94876dcd cT(train=False)=4f226dbb dx=7f7f65d4 dh0=4c719832 dc0=728cc753 grads[l0]=5d3ca65b
LSTM plain float64 numpy y=6fc8b5e6 hT=f19be391 cT=d718be0f y(train=False)=6fc8b5e6 hT(train=False)=f19be391 cT(train=False)=d718be0f dx=8260a7a1 dh0=b10bd649 dc0=f6267b74 grads[l0]=bc4127ad
LSTM plain float64 c/generic y=ec4ee82c hT=3a3d8ec6 cT=afd6c64d y(train=False)=ec4ee82c hT(train=False)=3a3d8ec6 cT(train=False)=afd6c64d dx=d202113a dh0=cd38a99d dc0=b7829cf9 grads[l0]=5007416d
LSTM plain float64 c/avx2 y=9c8c7705 hT=312643d4 cT=a1217d13 y(train=False)=9c8c7705 hT(train=False)=312643d4 cT(train=False)=a1217d13 dx=cc57d924 dh0=cf36b718 dc0=fd377d3f grads[l0]=0602a5e0
LSTM plain float64 c/avx512 y=9c8c7705 hT=312643d4 cT=a1217d13 y(train=False)=9c8c7705 hT(train=False)=312643d4 cT(train=False)=a1217d13 dx=cc57d924 dh0=cf36b718 dc0=fd377d3f grads[l0]=0602a5e0
GRU-reset_after=True plain float32 numpy y=c636b0f8 hT=47536cec y(train=False)=c636b0f8 hT(train=False)=47536cec dx=9ff979b9 dh0=49676c70 grads[l0]=87bf82ee
GRU-reset_after=True plain float32 c/generic y=07797844 hT=83e457df y(train=False)=07797844 hT(train=False)=83e457df dx=4977f58f dh0=55fb4612 grads[l0]=88ff5034
GRU-reset_after=True plain float32 c/avx2 y=f872d293 hT=43ff6e98 y(train=False)=f872d293 hT(train=False)=43ff6e98 dx=926e04c2 dh0=dacf7aef grads[l0]=a4714c1b
GRU-reset_after=True plain float32 c/avx512 y=f872d293 hT=43ff6e98 y(train=False)=f872d293 hT(train=False)=43ff6e98 dx=926e04c2 dh0=dacf7aef grads[l0]=a4714c1b
GRU-reset_after=True plain float64 numpy y=b2e75650 hT=b36d4eac y(train=False)=b2e75650 hT(train=False)=b36d4eac dx=219d47cc dh0=03ffc4ff grads[l0]=efff8fd9
GRU-reset_after=True plain float64 c/generic y=fb762f03 hT=0f2e1bb1 y(train=False)=fb762f03 hT(train=False)=0f2e1bb1 dx=2d7a65ae dh0=5bc0de09 grads[l0]=8b0c07c2
GRU-reset_after=True plain float64 c/avx2 y=cb99c37e hT=94404c10 y(train=False)=cb99c37e hT(train=False)=94404c10 dx=c7ac8f43 dh0=258cf9b6 grads[l0]=33b49b31
GRU-reset_after=True plain float64 c/avx512 y=cb99c37e hT=94404c10 y(train=False)=cb99c37e hT(train=False)=94404c10 dx=c7ac8f43 dh0=258cf9b6 grads[l0]=33b49b31
GRU-reset_after=False plain float32 numpy y=4a64cb69 hT=036e7a0a y(train=False)=4a64cb69 hT(train=False)=036e7a0a dx=7bf19835 dh0=e6233d83 grads[l0]=97b8e57d
GRU-reset_after=False plain float32 c/generic y=e797656f hT=b8a51886 y(train=False)=e797656f hT(train=False)=b8a51886 dx=44f22517 dh0=3483e6af grads[l0]=7c64da4c
GRU-reset_after=False plain float32 c/avx2 y=accc43c9 hT=65c9ee24 y(train=False)=accc43c9 hT(train=False)=65c9ee24 dx=cf42a12b dh0=05ea8ce0 grads[l0]=29992548
GRU-reset_after=False plain float32 c/avx512 y=accc43c9 hT=65c9ee24 y(train=False)=accc43c9 hT(train=False)=65c9ee24 dx=cf42a12b dh0=05ea8ce0 grads[l0]=29992548
GRU-reset_after=False plain float64 numpy y=f1f065cf hT=9b891e7e y(train=False)=f1f065cf hT(train=False)=9b891e7e dx=4e11d298 dh0=0e7e86d9 grads[l0]=0e065f18
GRU-reset_after=False plain float64 c/generic y=78507b72 hT=15cb55d7 y(train=False)=78507b72 hT(train=False)=15cb55d7 dx=ac462d2c dh0=8e07c8de grads[l0]=3e72c1c1
GRU-reset_after=False plain float64 c/avx2 y=f77e4767 hT=887d75c9 y(train=False)=f77e4767 hT(train=False)=887d75c9 dx=d0d77305 dh0=f8040b10 grads[l0]=5e6494bc
GRU-reset_after=False plain float64 c/avx512 y=f77e4767 hT=887d75c9 y(train=False)=f77e4767 hT(train=False)=887d75c9 dx=d0d77305 dh0=f8040b10 grads[l0]=5e6494bc
SRN-nonlinearity=tanh deep float32 numpy y=0fcdc81b hT=755fb6c5 y(train=False)=0fcdc81b hT(train=False)=755fb6c5 dx=8f51211f dh0=76523861 grads[l0]=ea7797ce grads[l0_reverse]=3c895f83 grads[l1]=caabfb7b grads[l1_reverse]=f76d76a0
SRN-nonlinearity=tanh deep float32 c/generic y=65ac6c2a hT=7c887dd9 y(train=False)=65ac6c2a hT(train=False)=7c887dd9 dx=0ec3aa70 dh0=9de56781 grads[l0]=e24e04a6 grads[l0_reverse]=3bd18430 grads[l1]=22029b08 grads[l1_reverse]=df06710d
SRN-nonlinearity=tanh deep float32 c/avx2 y=1ce07e81 hT=39d8ebb1 y(train=False)=1ce07e81 hT(train=False)=39d8ebb1 dx=f53e129a dh0=aae737e9 grads[l0]=1c6c19d4 grads[l0_reverse]=79d742d8 grads[l1]=58b09ef8 grads[l1_reverse]=e5ecf325
SRN-nonlinearity=tanh deep float32 c/avx512 y=1ce07e81 hT=39d8ebb1 y(train=False)=1ce07e81 hT(train=False)=39d8ebb1 dx=f53e129a dh0=aae737e9 grads[l0]=1c6c19d4 grads[l0_reverse]=79d742d8 grads[l1]=58b09ef8 grads[l1_reverse]=e5ecf325
SRN-nonlinearity=tanh deep float64 numpy y=ffd90dcc hT=3a61dfa1 y(train=False)=ffd90dcc hT(train=False)=3a61dfa1 dx=5a095bec dh0=1b91ddf2 grads[l0]=20a63d7d grads[l0_reverse]=5e7da086 grads[l1]=375b74eb grads[l1_reverse]=1c04ad58
SRN-nonlinearity=tanh deep float64 c/generic y=38114091 hT=627b6eb7 y(train=False)=38114091 hT(train=False)=627b6eb7 dx=ab00b7b9 dh0=ee41e46b grads[l0]=df13b0f4 grads[l0_reverse]=35dfb557 grads[l1]=58642430 grads[l1_reverse]=4740b0d7
SRN-nonlinearity=tanh deep float64 c/avx2 y=8b73e34b hT=70ed3771 y(train=False)=8b73e34b hT(train=False)=70ed3771 dx=a39f7f1c dh0=3bcea9f3 grads[l0]=0196a104 grads[l0_reverse]=58fea101 grads[l1]=97ff697c grads[l1_reverse]=43a0e92b
SRN-nonlinearity=tanh deep float64 c/avx512 y=8b73e34b hT=70ed3771 y(train=False)=8b73e34b hT(train=False)=70ed3771 dx=a39f7f1c dh0=3bcea9f3 grads[l0]=0196a104 grads[l0_reverse]=58fea101 grads[l1]=97ff697c grads[l1_reverse]=43a0e92b
SRN-nonlinearity=relu deep float32 numpy y=90aa1354 hT=73c85812 y(train=False)=90aa1354 hT(train=False)=73c85812 dx=e690230e dh0=3e41f619 grads[l0]=ccba4d00 grads[l0_reverse]=18e7058b grads[l1]=9302b9b7 grads[l1_reverse]=1ec7499d
SRN-nonlinearity=relu deep float32 c/generic y=9f1d3383 hT=8cbbbdcd y(train=False)=9f1d3383 hT(train=False)=8cbbbdcd dx=1ad776dc dh0=d5e25f3f grads[l0]=4369c660 grads[l0_reverse]=f1f8a476 grads[l1]=97aa4691 grads[l1_reverse]=b68da661
SRN-nonlinearity=relu deep float32 c/avx2 y=90aa1354 hT=73c85812 y(train=False)=90aa1354 hT(train=False)=73c85812 dx=e690230e dh0=3e41f619 grads[l0]=ccba4d00 grads[l0_reverse]=18e7058b grads[l1]=9302b9b7 grads[l1_reverse]=1ec7499d
SRN-nonlinearity=relu deep float32 c/avx512 y=90aa1354 hT=73c85812 y(train=False)=90aa1354 hT(train=False)=73c85812 dx=e690230e dh0=3e41f619 grads[l0]=ccba4d00 grads[l0_reverse]=18e7058b grads[l1]=9302b9b7 grads[l1_reverse]=1ec7499d
SRN-nonlinearity=relu deep float64 numpy y=0d4ed7ad hT=8c5785ae y(train=False)=0d4ed7ad hT(train=False)=8c5785ae dx=92af5df5 dh0=db5e257e grads[l0]=2ea7b696 grads[l0_reverse]=fb0e9803 grads[l1]=ef190105 grads[l1_reverse]=5e9c8381
SRN-nonlinearity=relu deep float64 c/generic y=292eb390 hT=77f0aee3 y(train=False)=292eb390 hT(train=False)=77f0aee3 dx=d9c044e1 dh0=f0886df9 grads[l0]=6d00c8c4 grads[l0_reverse]=5925cd3a grads[l1]=d09203e2 grads[l1_reverse]=07815efd
SRN-nonlinearity=relu deep float64 c/avx2 y=0d4ed7ad hT=8c5785ae y(train=False)=0d4ed7ad hT(train=False)=8c5785ae dx=92af5df5 dh0=db5e257e grads[l0]=2ea7b696 grads[l0_reverse]=fb0e9803 grads[l1]=ef190105 grads[l1_reverse]=5e9c8381
SRN-nonlinearity=relu deep float64 c/avx512 y=0d4ed7ad hT=8c5785ae y(train=False)=0d4ed7ad hT(train=False)=8c5785ae dx=92af5df5 dh0=db5e257e grads[l0]=2ea7b696 grads[l0_reverse]=fb0e9803 grads[l1]=ef190105 grads[l1_reverse]=5e9c8381
SRN-nonlinearity=sigmoid deep float32 numpy y=0180c600 hT=04fafd9f y(train=False)=0180c600 hT(train=False)=04fafd9f dx=041b74d0 dh0=1b9f2b9f grads[l0]=e29fa546 grads[l0_reverse]=35747156 grads[l1]=51c8ce13 grads[l1_reverse]=b4169f8f
SRN-nonlinearity=sigmoid deep float32 c/generic y=ecee723b hT=496e5fb0 y(train=False)=ecee723b hT(train=False)=496e5fb0 dx=e2738999 dh0=908ced35 grads[l0]=d8618772 grads[l0_reverse]=14dcf876 grads[l1]=05e1a983 grads[l1_reverse]=70982eac
SRN-nonlinearity=sigmoid deep float32 c/avx2 y=0c48d81c hT=c24fa0dc y(train=False)=0c48d81c hT(train=False)=c24fa0dc dx=cc95942a dh0=b802acc0 grads[l0]=fe6f96d4 grads[l0_reverse]=9f26d6c1 grads[l1]=96407aa0 grads[l1_reverse]=54b8166b
SRN-nonlinearity=sigmoid deep float32 c/avx512 y=0c48d81c hT=c24fa0dc y(train=False)=0c48d81c hT(train=False)=c24fa0dc dx=cc95942a dh0=b802acc0 grads[l0]=fe6f96d4 grads[l0_reverse]=9f26d6c1 grads[l1]=96407aa0 grads[l1_reverse]=54b8166b
SRN-nonlinearity=sigmoid deep float64 numpy y=600fb194 hT=768c1b83 y(train=False)=600fb194 hT(train=False)=768c1b83 dx=38cdf550 dh0=843346f9 grads[l0]=add1c42a grads[l0_reverse]=591337e4 grads[l1]=9562476c grads[l1_reverse]=42346a74
SRN-nonlinearity=sigmoid deep float64 c/generic y=881d56a5 hT=04a35833 y(train=False)=881d56a5 hT(train=False)=04a35833 dx=448de483 dh0=a4f9f745 grads[l0]=8bac81da grads[l0_reverse]=b112143b grads[l1]=10a61d31 grads[l1_reverse]=8b526a42
SRN-nonlinearity=sigmoid deep float64 c/avx2 y=21a1454a hT=8fd2e642 y(train=False)=21a1454a hT(train=False)=8fd2e642 dx=16b969df dh0=ea3e58d8 grads[l0]=8bfb574a grads[l0_reverse]=4cb46432 grads[l1]=9784423c grads[l1_reverse]=e964de0d
SRN-nonlinearity=sigmoid deep float64 c/avx512 y=21a1454a hT=8fd2e642 y(train=False)=21a1454a hT(train=False)=8fd2e642 dx=16b969df dh0=ea3e58d8 grads[l0]=8bfb574a grads[l0_reverse]=4cb46432 grads[l1]=9784423c grads[l1_reverse]=e964de0d
SRN-nonlinearity=tanh-residual=True deep float32 numpy y=97881b7e hT=28135c5a y(train=False)=97881b7e hT(train=False)=28135c5a dx=77cfd074 dh0=6e068751 grads[l0]=f09bfc0e grads[l0_reverse]=850ce9af grads[l1]=d0949a6d grads[l1_reverse]=33517608
SRN-nonlinearity=tanh-residual=True deep float32 c/generic y=4148f9c7 hT=6a4d9994 y(train=False)=4148f9c7 hT(train=False)=6a4d9994 dx=d364d3bd dh0=0be4254e grads[l0]=9f74ba05 grads[l0_reverse]=6e1bd2db grads[l1]=6a65317f grads[l1_reverse]=6d979a8a
SRN-nonlinearity=tanh-residual=True deep float32 c/avx2 y=f3fe8549 hT=f353e270 y(train=False)=f3fe8549 hT(train=False)=f353e270 dx=859bcdd6 dh0=058e13ad grads[l0]=540514f8 grads[l0_reverse]=7c58e03f grads[l1]=42e5af29 grads[l1_reverse]=267bb85d
SRN-nonlinearity=tanh-residual=True deep float32 c/avx512 y=f3fe8549 hT=f353e270 y(train=False)=f3fe8549 hT(train=False)=f353e270 dx=859bcdd6 dh0=058e13ad grads[l0]=540514f8 grads[l0_reverse]=7c58e03f grads[l1]=42e5af29 grads[l1_reverse]=267bb85d
SRN-nonlinearity=tanh-residual=True deep float64 numpy y=db5dd027 hT=d457fb4d y(train=False)=db5dd027 hT(train=False)=d457fb4d dx=e67e7c14 dh0=1e666ea8 grads[l0]=b8097656 grads[l0_reverse]=65775c3d grads[l1]=acf3446e grads[l1_reverse]=efd774fa
SRN-nonlinearity=tanh-residual=True deep float64 c/generic y=68cb6a09 hT=45234099 y(train=False)=68cb6a09 hT(train=False)=45234099 dx=5dafbf14 dh0=f89840ac grads[l0]=fbed413d grads[l0_reverse]=e02d7d70 grads[l1]=8ea3da0c grads[l1_reverse]=1a21bc6f
SRN-nonlinearity=tanh-residual=True deep float64 c/avx2 y=383be6ee hT=7ba0ddd6 y(train=False)=383be6ee hT(train=False)=7ba0ddd6 dx=3e99b2a9 dh0=43e2e1f5 grads[l0]=25b95c29 grads[l0_reverse]=fccdaf85 grads[l1]=061782d9 grads[l1_reverse]=aaf062ff
SRN-nonlinearity=tanh-residual=True deep float64 c/avx512 y=383be6ee hT=7ba0ddd6 y(train=False)=383be6ee hT(train=False)=7ba0ddd6 dx=3e99b2a9 dh0=43e2e1f5 grads[l0]=25b95c29 grads[l0_reverse]=fccdaf85 grads[l1]=061782d9 grads[l1_reverse]=aaf062ff
LSTM deep float32 numpy y=1e05b7de hT=ecfd4ff2 cT=9494402c y(train=False)=1e05b7de hT(train=False)=ecfd4ff2 cT(train=False)=9494402c dx=df58d363 dh0=ab28cf81 dc0=ce0f39ea grads[l0]=5be29f2c grads[l0_reverse]=6293c50e grads[l1]=590bf761 grads[l1_reverse]=ddd8f672
LSTM deep float32 c/generic y=89f606d6 hT=d56faafe cT=6975bac1 y(train=False)=89f606d6 hT(train=False)=d56faafe cT(train=False)=6975bac1 dx=ac4e7f8d dh0=848509f5 dc0=3d315bad grads[l0]=82fc7c50 grads[l0_reverse]=25d929b5 grads[l1]=4daf9a20 grads[l1_reverse]=b82d869c
LSTM deep float32 c/avx2 y=5113ae89 hT=f82c4170 cT=b8994f8f y(train=False)=5113ae89 hT(train=False)=f82c4170 cT(train=False)=b8994f8f dx=12092867 dh0=cba8bab1 dc0=d9b68b34 grads[l0]=18fe294f grads[l0_reverse]=75923c41 grads[l1]=1423ec0e grads[l1_reverse]=79bf6832
LSTM deep float32 c/avx512 y=5113ae89 hT=f82c4170 cT=b8994f8f y(train=False)=5113ae89 hT(train=False)=f82c4170 cT(train=False)=b8994f8f dx=12092867 dh0=cba8bab1 dc0=d9b68b34 grads[l0]=18fe294f grads[l0_reverse]=75923c41 grads[l1]=1423ec0e grads[l1_reverse]=79bf6832
LSTM deep float64 numpy y=46b8d3bf hT=34813417 cT=7f182eed y(train=False)=46b8d3bf hT(train=False)=34813417 cT(train=False)=7f182eed dx=d9f66cc9 dh0=bc7724ef dc0=aa8a796f grads[l0]=85b1e4f0 grads[l0_reverse]=2d8e2e91 grads[l1]=4fb87e99 grads[l1_reverse]=844246f8
LSTM deep float64 c/generic y=092109a5 hT=20b25f53 cT=24f036e3 y(train=False)=092109a5 hT(train=False)=20b25f53 cT(train=False)=24f036e3 dx=4822cbf0 dh0=0bbb95ef dc0=3c1007d4 grads[l0]=7ffd0ac0 grads[l0_reverse]=441e6563 grads[l1]=a5c7ea5a grads[l1_reverse]=b6fa99d9
LSTM deep float64 c/avx2 y=e62cfe86 hT=55499772 cT=5eb65634 y(train=False)=e62cfe86 hT(train=False)=55499772 cT(train=False)=5eb65634 dx=e54dec95 dh0=e3d0d045 dc0=af304461 grads[l0]=93757e32 grads[l0_reverse]=6937f95a grads[l1]=4b7b7789 grads[l1_reverse]=67aee581
LSTM deep float64 c/avx512 y=e62cfe86 hT=55499772 cT=5eb65634 y(train=False)=e62cfe86 hT(train=False)=55499772 cT(train=False)=5eb65634 dx=e54dec95 dh0=e3d0d045 dc0=af304461 grads[l0]=93757e32 grads[l0_reverse]=6937f95a grads[l1]=4b7b7789 grads[l1_reverse]=67aee581
GRU-reset_after=True deep float32 numpy y=2e5b1dab hT=33fb9b60 y(train=False)=2e5b1dab hT(train=False)=33fb9b60 dx=9beb20f8 dh0=34dc004e grads[l0]=00f4f434 grads[l0_reverse]=50b23ac0 grads[l1]=a0e85682 grads[l1_reverse]=ed5761f7
GRU-reset_after=True deep float32 c/generic y=68568cb3 hT=eb0f9e22 y(train=False)=68568cb3 hT(train=False)=eb0f9e22 dx=9a67354e dh0=d013b694 grads[l0]=fa2c2b3e grads[l0_reverse]=1ecb8f6d grads[l1]=92b6d720 grads[l1_reverse]=ed89d50d
GRU-reset_after=True deep float32 c/avx2 y=435acbe0 hT=87ae1aa9 y(train=False)=435acbe0 hT(train=False)=87ae1aa9 dx=713dd9f4 dh0=ba136a03 grads[l0]=5e07d896 grads[l0_reverse]=0ba021aa grads[l1]=2ba8f40b grads[l1_reverse]=c2b30703
GRU-reset_after=True deep float32 c/avx512 y=435acbe0 hT=87ae1aa9 y(train=False)=435acbe0 hT(train=False)=87ae1aa9 dx=713dd9f4 dh0=ba136a03 grads[l0]=5e07d896 grads[l0_reverse]=0ba021aa grads[l1]=2ba8f40b grads[l1_reverse]=c2b30703
GRU-reset_after=True deep float64 numpy y=c950c3b5 hT=00c53441 y(train=False)=c950c3b5 hT(train=False)=00c53441 dx=74fa49e8 dh0=8bee0c87 grads[l0]=34bf1906 grads[l0_reverse]=67bece0f grads[l1]=31b9b7f8 grads[l1_reverse]=59d962ca
GRU-reset_after=True deep float64 c/generic y=b676e0c8 hT=6904b290 y(train=False)=b676e0c8 hT(train=False)=6904b290 dx=905fff49 dh0=e4238d6d grads[l0]=41acf143 grads[l0_reverse]=1c7d7e29 grads[l1]=6b944174 grads[l1_reverse]=811020b0
GRU-reset_after=True deep float64 c/avx2 y=569a4227 hT=0f4fefc4 y(train=False)=569a4227 hT(train=False)=0f4fefc4 dx=2a072fbf dh0=96cdc538 grads[l0]=ec636e1c grads[l0_reverse]=02cab8a8 grads[l1]=d7879d86 grads[l1_reverse]=e45c9337
GRU-reset_after=True deep float64 c/avx512 y=569a4227 hT=0f4fefc4 y(train=False)=569a4227 hT(train=False)=0f4fefc4 dx=2a072fbf dh0=96cdc538 grads[l0]=ec636e1c grads[l0_reverse]=02cab8a8 grads[l1]=d7879d86 grads[l1_reverse]=e45c9337
GRU-reset_after=False deep float32 numpy y=39dc0cb7 hT=6e596a3b y(train=False)=39dc0cb7 hT(train=False)=6e596a3b dx=f1adfb77 dh0=1826a9b4 grads[l0]=1c155fb3 grads[l0_reverse]=1416c788 grads[l1]=d35ec9f1 grads[l1_reverse]=0615e1b2
GRU-reset_after=False deep float32 c/generic y=41e9dd52 hT=ba35f76a y(train=False)=41e9dd52 hT(train=False)=ba35f76a dx=de36ef8b dh0=852f84a9 grads[l0]=2eaa70b9 grads[l0_reverse]=13e53b6b grads[l1]=0bd739f5 grads[l1_reverse]=f6700b38
GRU-reset_after=False deep float32 c/avx2 y=8e95228d hT=dd3908d4 y(train=False)=8e95228d hT(train=False)=dd3908d4 dx=16e4d5e5 dh0=4da62318 grads[l0]=e76d62a1 grads[l0_reverse]=07203589 grads[l1]=48029a50 grads[l1_reverse]=48a02b36
GRU-reset_after=False deep float32 c/avx512 y=8e95228d hT=dd3908d4 y(train=False)=8e95228d hT(train=False)=dd3908d4 dx=16e4d5e5 dh0=4da62318 grads[l0]=e76d62a1 grads[l0_reverse]=07203589 grads[l1]=48029a50 grads[l1_reverse]=48a02b36
GRU-reset_after=False deep float64 numpy y=5504d42e hT=53b1a9e9 y(train=False)=5504d42e hT(train=False)=53b1a9e9 dx=4f2b6d38 dh0=b792aa1c grads[l0]=f1bb6f82 grads[l0_reverse]=d1503973 grads[l1]=f7f664cc grads[l1_reverse]=0dc6bdeb
GRU-reset_after=False deep float64 c/generic y=7d23bf1d hT=362d4a89 y(train=False)=7d23bf1d hT(train=False)=362d4a89 dx=733c6c4a dh0=5bf707c8 grads[l0]=e24d51f6 grads[l0_reverse]=9d1bfe16 grads[l1]=e23688aa grads[l1_reverse]=cfab7cbd
GRU-reset_after=False deep float64 c/avx2 y=76bf6b7b hT=82fc9f78 y(train=False)=76bf6b7b hT(train=False)=82fc9f78 dx=befcd7e2 dh0=7114f76e grads[l0]=56606a13 grads[l0_reverse]=d0305241 grads[l1]=7724788e grads[l1_reverse]=ffe7d9ac
GRU-reset_after=False deep float64 c/avx512 y=76bf6b7b hT=82fc9f78 y(train=False)=76bf6b7b hT(train=False)=82fc9f78 dx=befcd7e2 dh0=7114f76e grads[l0]=56606a13 grads[l0_reverse]=d0305241 grads[l1]=7724788e grads[l1_reverse]=ffe7d9ac
SRN-nonlinearity=tanh trace float32 numpy y=1c77e3fe hT=c94f446a dx=1a3479ea dh0=c25d5c2a dW_ih=93430187 dW_hh=3d72f441 dh_seq=61ef10c1
SRN-nonlinearity=tanh trace float32 c/generic y=6a495080 hT=3f3d7654 dx=ec65f6e2 dh0=45e98c9c dW_ih=043556c7 dW_hh=1c1bb182 dh_seq=eb2e89ab
SRN-nonlinearity=tanh trace float32 c/avx2 y=0aa4ca11 hT=0c8b15b8 dx=84098d8a dh0=ba9f6932 dW_ih=2c2e2756 dW_hh=fa5256d2 dh_seq=afd743c7
SRN-nonlinearity=tanh trace float32 c/avx512 y=0aa4ca11 hT=0c8b15b8 dx=84098d8a dh0=ba9f6932 dW_ih=2c2e2756 dW_hh=fa5256d2 dh_seq=afd743c7
SRN-nonlinearity=tanh trace float64 numpy y=1cdaa160 hT=e0f1aac5 dx=d23cb601 dh0=3f032047 dW_ih=1870a25e dW_hh=99608bce dh_seq=bd464524
SRN-nonlinearity=tanh trace float64 c/generic y=bdb302fa hT=9227cd9c dx=d6e8a966 dh0=57d8c8cb dW_ih=ef6251d8 dW_hh=5f3fd209 dh_seq=6fb74ccd
SRN-nonlinearity=tanh trace float64 c/avx2 y=4ce622e0 hT=4a674165 dx=1563a8cc dh0=3116ed6d dW_ih=0046e889 dW_hh=2d288d2a dh_seq=e1d634f3
SRN-nonlinearity=tanh trace float64 c/avx512 y=4ce622e0 hT=4a674165 dx=1563a8cc dh0=3116ed6d dW_ih=0046e889 dW_hh=2d288d2a dh_seq=e1d634f3
SRN-nonlinearity=relu trace float32 numpy y=7a662e17 hT=a2dc0d0c dx=b401eec6 dh0=9a9cd44e dW_ih=5eca00a3 dW_hh=a71ca957 dh_seq=d36cbd47
SRN-nonlinearity=relu trace float32 c/generic y=6377849e hT=c72f841b dx=dd674120 dh0=c3948374 dW_ih=fce36495 dW_hh=54d11aa6 dh_seq=2845adc5
SRN-nonlinearity=relu trace float32 c/avx2 y=7a662e17 hT=a2dc0d0c dx=b401eec6 dh0=9a9cd44e dW_ih=5eca00a3 dW_hh=a71ca957 dh_seq=d36cbd47
SRN-nonlinearity=relu trace float32 c/avx512 y=7a662e17 hT=a2dc0d0c dx=b401eec6 dh0=9a9cd44e dW_ih=5eca00a3 dW_hh=a71ca957 dh_seq=d36cbd47
SRN-nonlinearity=relu trace float64 numpy y=9be1233c hT=0af3d53b dx=83784c74 dh0=0f92a9c2 dW_ih=c9eac934 dW_hh=02a5f21c dh_seq=221cb980
SRN-nonlinearity=relu trace float64 c/generic y=d231aa16 hT=f169f41c dx=598d43a4 dh0=7a3184c9 dW_ih=e18457f7 dW_hh=403c24bb dh_seq=e7057796
SRN-nonlinearity=relu trace float64 c/avx2 y=9be1233c hT=0af3d53b dx=83784c74 dh0=0f92a9c2 dW_ih=c9eac934 dW_hh=02a5f21c dh_seq=221cb980
SRN-nonlinearity=relu trace float64 c/avx512 y=9be1233c hT=0af3d53b dx=83784c74 dh0=0f92a9c2 dW_ih=c9eac934 dW_hh=02a5f21c dh_seq=221cb980
SRN-nonlinearity=sigmoid trace float32 numpy y=1b7020e3 hT=010243e3 dx=ddff8cbf dh0=fc1204a3 dW_ih=14fc8efe dW_hh=43080a2d dh_seq=004b38fb
SRN-nonlinearity=sigmoid trace float32 c/generic y=c072d808 hT=7a46c336 dx=505ecb3f dh0=9cdb3219 dW_ih=47f7dc46 dW_hh=fcadcead dh_seq=73f0d9cd
SRN-nonlinearity=sigmoid trace float32 c/avx2 y=8fe0fa01 hT=5fd9e57a dx=4b5e55ee dh0=8a1abddb dW_ih=de480400 dW_hh=77a51afa dh_seq=3f7155ab
SRN-nonlinearity=sigmoid trace float32 c/avx512 y=8fe0fa01 hT=5fd9e57a dx=4b5e55ee dh0=8a1abddb dW_ih=de480400 dW_hh=77a51afa dh_seq=3f7155ab
SRN-nonlinearity=sigmoid trace float64 numpy y=a84fe657 hT=f43a2643 dx=8b5d753c dh0=4f3f581d dW_ih=2a6e3461 dW_hh=1b404363 dh_seq=82b92fcc
SRN-nonlinearity=sigmoid trace float64 c/generic y=431c937b hT=14a8beb6 dx=a2c7cb43 dh0=5f352d0a dW_ih=1f1e6270 dW_hh=9d23a683 dh_seq=a5e0e9e3
SRN-nonlinearity=sigmoid trace float64 c/avx2 y=b00627d0 hT=ebd4f9fe dx=81de3934 dh0=bf8cc0a2 dW_ih=0756f7cb dW_hh=a48d90d8 dh_seq=a7b8eb23
SRN-nonlinearity=sigmoid trace float64 c/avx512 y=b00627d0 hT=ebd4f9fe dx=81de3934 dh0=bf8cc0a2 dW_ih=0756f7cb dW_hh=a48d90d8 dh_seq=a7b8eb23
SRN-nonlinearity=tanh-residual=True trace float32 numpy y=daee1410 hT=4576b0e4 dx=63e43428 dh0=3c3e19fe dW_ih=ed149244 dW_hh=28ce943e dh_seq=2c5ac193
SRN-nonlinearity=tanh-residual=True trace float32 c/generic y=c1949ba6 hT=fc085917 dx=89d3632e dh0=93816066 dW_ih=a8ed6ffa dW_hh=f318440b dh_seq=a259d8fb
SRN-nonlinearity=tanh-residual=True trace float32 c/avx2 y=bbdee5a9 hT=2fe9edec dx=102d2c69 dh0=7a7983e1 dW_ih=e41bd4d7 dW_hh=1adf2263 dh_seq=c284fc0e
SRN-nonlinearity=tanh-residual=True trace float32 c/avx512 y=bbdee5a9 hT=2fe9edec dx=102d2c69 dh0=7a7983e1 dW_ih=e41bd4d7 dW_hh=1adf2263 dh_seq=c284fc0e
SRN-nonlinearity=tanh-residual=True trace float64 numpy y=707ee2f7 hT=8b56e074 dx=fd48ddb2 dh0=dbe287ac dW_ih=fdcd0f29 dW_hh=ac3aaaea dh_seq=585b9a77
SRN-nonlinearity=tanh-residual=True trace float64 c/generic y=7f28cc86 hT=32536922 dx=622d6387 dh0=cfb26a5c dW_ih=ba17c08d dW_hh=498a01a7 dh_seq=76de20a5
SRN-nonlinearity=tanh-residual=True trace float64 c/avx2 y=fa4aee3e hT=ca2a1ee1 dx=ae658bb5 dh0=8b4846b2 dW_ih=a03c17e7 dW_hh=f1dae03b dh_seq=e3f91e48
SRN-nonlinearity=tanh-residual=True trace float64 c/avx512 y=fa4aee3e hT=ca2a1ee1 dx=ae658bb5 dh0=8b4846b2 dW_ih=a03c17e7 dW_hh=f1dae03b dh_seq=e3f91e48
LSTM trace float32 numpy y=712e72f6 hT=0cd403d6 cT=4e41c3b9 dx=e6a3cfb0 dh0=48415aca dc0=8eda0bda dW_ih=29af6d59 dW_hh=65205566 dh_seq=328cfc5c dc_seq=57e67a46
LSTM trace float32 c/generic y=7efabe2b hT=daa5b003 cT=3542a1e1 dx=8bbf51ca dh0=52e0dd45 dc0=fdbc9e74 dW_ih=4b4c9d61 dW_hh=777b2582 dh_seq=370623fc dc_seq=911ea69f
LSTM trace float32 c/avx2 y=74c797a9 hT=4912f998 cT=f88ee693 dx=cc9a6dd6 dh0=0fe48ab9 dc0=20d8c4a3 dW_ih=94c42e2f dW_hh=c24db503 dh_seq=3b16a5d0 dc_seq=2319549b
LSTM trace float32 c/avx512 y=74c797a9 hT=4912f998 cT=f88ee693 dx=cc9a6dd6 dh0=0fe48ab9 dc0=20d8c4a3 dW_ih=94c42e2f dW_hh=c24db503 dh_seq=3b16a5d0 dc_seq=2319549b
LSTM trace float64 numpy y=40413048 hT=2c108a56 cT=6332e3ca dx=99adc6b6 dh0=5187876f dc0=907d00ed dW_ih=4545b339 dW_hh=61ae6871 dh_seq=6d6e0d77 dc_seq=99d373a7
LSTM trace float64 c/generic y=59ce290c hT=ff3073a1 cT=6e31cac0 dx=b8d7a69d dh0=fc4996e4 dc0=f98d91ed dW_ih=6ddfb29c dW_hh=d8937e86 dh_seq=c8405812 dc_seq=4028f710
LSTM trace float64 c/avx2 y=4afc1cd2 hT=06af3bb2 cT=8d6116c3 dx=b0c0ef90 dh0=1fa2da82 dc0=dc1a0f05 dW_ih=aa739f37 dW_hh=37cd871a dh_seq=6b13c373 dc_seq=0266d142
LSTM trace float64 c/avx512 y=4afc1cd2 hT=06af3bb2 cT=8d6116c3 dx=b0c0ef90 dh0=1fa2da82 dc0=dc1a0f05 dW_ih=aa739f37 dW_hh=37cd871a dh_seq=6b13c373 dc_seq=0266d142
GRU-reset_after=True trace float32 numpy y=ebf02be0 hT=94d64176 dx=1b6506af dh0=8626af32 dW_ih=785c3ce9 dW_hh=eabe0e81 dh_seq=8b783821
GRU-reset_after=True trace float32 c/generic y=d5c3b012 hT=a456e870 dx=17b6faa0 dh0=93abf9f1 dW_ih=dd91b5b0 dW_hh=1fd97caa dh_seq=09eec394
GRU-reset_after=True trace float32 c/avx2 y=68c5314f hT=e914df3c dx=ae66b047 dh0=bbcfca2b dW_ih=2a5ca7e6 dW_hh=a2d478be dh_seq=f1764430
GRU-reset_after=True trace float32 c/avx512 y=68c5314f hT=e914df3c dx=ae66b047 dh0=bbcfca2b dW_ih=2a5ca7e6 dW_hh=a2d478be dh_seq=f1764430
GRU-reset_after=True trace float64 numpy y=4d2217bd hT=86a0b12d dx=30662df6 dh0=e3937e55 dW_ih=cda30087 dW_hh=49d34118 dh_seq=64d8ec19
GRU-reset_after=True trace float64 c/generic y=13e942a6 hT=0e91b55f dx=68b88367 dh0=7fa885e3 dW_ih=86b9c1a1 dW_hh=ea551f50 dh_seq=779a525c
GRU-reset_after=True trace float64 c/avx2 y=9040d9de hT=29678cea dx=8474ef8d dh0=21d63279 dW_ih=af24eedc dW_hh=cbd52796 dh_seq=706503d0
GRU-reset_after=True trace float64 c/avx512 y=9040d9de hT=29678cea dx=8474ef8d dh0=21d63279 dW_ih=af24eedc dW_hh=cbd52796 dh_seq=706503d0
GRU-reset_after=False trace float32 numpy y=accbe3fb hT=14a88a90 dx=cdaa5433 dh0=963484b6 dW_ih=181bd6f5 dW_hh=4e61a1a2 dh_seq=d9dbbf5e
GRU-reset_after=False trace float32 c/generic y=960702e5 hT=5f66884d dx=aef24b58 dh0=8741ce97 dW_ih=123d1082 dW_hh=6dd37798 dh_seq=5255a668
GRU-reset_after=False trace float32 c/avx2 y=7866933c hT=1797345e dx=bcd99d95 dh0=9d742850 dW_ih=9759715a dW_hh=441594dc dh_seq=1693ae34
GRU-reset_after=False trace float32 c/avx512 y=7866933c hT=1797345e dx=bcd99d95 dh0=9d742850 dW_ih=9759715a dW_hh=441594dc dh_seq=1693ae34
GRU-reset_after=False trace float64 numpy y=21869c5c hT=7ce456eb dx=33976476 dh0=a59e2004 dW_ih=2af96cfd dW_hh=68285acc dh_seq=2bd7b7f9
GRU-reset_after=False trace float64 c/generic y=ba9fc430 hT=ff392707 dx=e99fd4da dh0=5b455e4c dW_ih=0f17c484 dW_hh=085ff160 dh_seq=b38202cb
GRU-reset_after=False trace float64 c/avx2 y=2fac22c8 hT=a751140a dx=30afaf63 dh0=6470fd8c dW_ih=7da75ec7 dW_hh=90068ab4 dh_seq=696fc6ec
GRU-reset_after=False trace float64 c/avx512 y=2fac22c8 hT=a751140a dx=30afaf63 dh0=6470fd8c dW_ih=7da75ec7 dW_hh=90068ab4 dh_seq=696fc6ec
SRN-nonlinearity=tanh wide float32 numpy y=80e71fa9 hT=54dbb6b4 y(train=False)=80e71fa9 hT(train=False)=54dbb6b4 dx=fdb47ee3 dh0=55bb738e grads[l0]=7ee0d213
SRN-nonlinearity=tanh wide float32 c/generic y=4394538b hT=cc897ad6 y(train=False)=4394538b hT(train=False)=cc897ad6 dx=cb3e8eb2 dh0=950c22b6 grads[l0]=48f13e59
SRN-nonlinearity=tanh wide float32 c/avx2 y=a3908815 hT=6d370940 y(train=False)=a3908815 hT(train=False)=6d370940 dx=92fc0847 dh0=05d9fc76 grads[l0]=77fc08ee
SRN-nonlinearity=tanh wide float32 c/avx512 y=a3908815 hT=6d370940 y(train=False)=a3908815 hT(train=False)=6d370940 dx=92fc0847 dh0=05d9fc76 grads[l0]=77fc08ee
SRN-nonlinearity=tanh wide float64 numpy y=9771bc69 hT=3d45e7df y(train=False)=9771bc69 hT(train=False)=3d45e7df dx=1ef5765d dh0=d44a3ec5 grads[l0]=f9c0ae36
SRN-nonlinearity=tanh wide float64 c/generic y=b42e7577 hT=6fb23f5f y(train=False)=b42e7577 hT(train=False)=6fb23f5f dx=9ace93fe dh0=95e5b9c1 grads[l0]=4d4ae7b7
SRN-nonlinearity=tanh wide float64 c/avx2 y=28cf4a97 hT=6f2355b7 y(train=False)=28cf4a97 hT(train=False)=6f2355b7 dx=da48ff78 dh0=444b30c2 grads[l0]=fe6d2223
SRN-nonlinearity=tanh wide float64 c/avx512 y=28cf4a97 hT=6f2355b7 y(train=False)=28cf4a97 hT(train=False)=6f2355b7 dx=da48ff78 dh0=444b30c2 grads[l0]=fe6d2223
SRN-nonlinearity=relu wide float32 numpy y=b77a9cdc hT=b684cfd5 y(train=False)=b77a9cdc hT(train=False)=b684cfd5 dx=39ed8965 dh0=87114ceb grads[l0]=df4611cd
SRN-nonlinearity=relu wide float32 c/generic y=ff77bfc1 hT=a9b3f30e y(train=False)=ff77bfc1 hT(train=False)=a9b3f30e dx=57866f63 dh0=639e8da7 grads[l0]=ecfe2c8d
SRN-nonlinearity=relu wide float32 c/avx2 y=d6ce9ba9 hT=14de04cc y(train=False)=d6ce9ba9 hT(train=False)=14de04cc dx=39ed8965 dh0=87114ceb grads[l0]=f81a20b5
SRN-nonlinearity=relu wide float32 c/avx512 y=d6ce9ba9 hT=14de04cc y(train=False)=d6ce9ba9 hT(train=False)=14de04cc dx=39ed8965 dh0=87114ceb grads[l0]=f81a20b5
SRN-nonlinearity=relu wide float64 numpy y=4a84e512 hT=4dc52930 y(train=False)=4a84e512 hT(train=False)=4dc52930 dx=d824d9e5 dh0=c758a120 grads[l0]=70543d82
SRN-nonlinearity=relu wide float64 c/generic y=f5a669fd hT=7d3312d2 y(train=False)=f5a669fd hT(train=False)=7d3312d2 dx=ccdf741c dh0=c6531dc0 grads[l0]=77cf046d
SRN-nonlinearity=relu wide float64 c/avx2 y=d7e48954 hT=a630f3f0 y(train=False)=d7e48954 hT(train=False)=a630f3f0 dx=d824d9e5 dh0=c758a120 grads[l0]=d6bb2e6b
SRN-nonlinearity=relu wide float64 c/avx512 y=d7e48954 hT=a630f3f0 y(train=False)=d7e48954 hT(train=False)=a630f3f0 dx=d824d9e5 dh0=c758a120 grads[l0]=d6bb2e6b
SRN-nonlinearity=sigmoid wide float32 numpy y=d3deecdf hT=e8e67aed y(train=False)=d3deecdf hT(train=False)=e8e67aed dx=f92698b2 dh0=b4bcb57f grads[l0]=7ab117a9
SRN-nonlinearity=sigmoid wide float32 c/generic y=630f9dde hT=3bab3abd y(train=False)=630f9dde hT(train=False)=3bab3abd dx=3bc1bc61 dh0=ca3f4668 grads[l0]=9065ab81
SRN-nonlinearity=sigmoid wide float32 c/avx2 y=30d1f833 hT=341b0365 y(train=False)=30d1f833 hT(train=False)=341b0365 dx=7fde820a dh0=70d0a12f grads[l0]=66275d12
SRN-nonlinearity=sigmoid wide float32 c/avx512 y=30d1f833 hT=341b0365 y(train=False)=30d1f833 hT(train=False)=341b0365 dx=7fde820a dh0=70d0a12f grads[l0]=66275d12
SRN-nonlinearity=sigmoid wide float64 numpy y=81c4f000 hT=625d14ef y(train=False)=81c4f000 hT(train=False)=625d14ef dx=93ba3ffe dh0=0e8e23b7 grads[l0]=0621250e
SRN-nonlinearity=sigmoid wide float64 c/generic y=2780ab29 hT=f54513f0 y(train=False)=2780ab29 hT(train=False)=f54513f0 dx=443889a0 dh0=9b636bd0 grads[l0]=9adc9ace
SRN-nonlinearity=sigmoid wide float64 c/avx2 y=ad174745 hT=bb7a6775 y(train=False)=ad174745 hT(train=False)=bb7a6775 dx=73f7152e dh0=b6645555 grads[l0]=87b8a66c
SRN-nonlinearity=sigmoid wide float64 c/avx512 y=ad174745 hT=bb7a6775 y(train=False)=ad174745 hT(train=False)=bb7a6775 dx=73f7152e dh0=b6645555 grads[l0]=87b8a66c
SRN-nonlinearity=tanh-residual=True wide float32 numpy y=df90d79c hT=399e9be9 y(train=False)=df90d79c hT(train=False)=399e9be9 dx=83fea063 dh0=5f2b7702 grads[l0]=b59e4140
SRN-nonlinearity=tanh-residual=True wide float32 c/generic y=6def0e97 hT=e308037e y(train=False)=6def0e97 hT(train=False)=e308037e dx=97ce8c1d dh0=bc88358b grads[l0]=9e8003ad
SRN-nonlinearity=tanh-residual=True wide float32 c/avx2 y=69b42869 hT=eb6cc3bd y(train=False)=69b42869 hT(train=False)=eb6cc3bd dx=b30c48c5 dh0=354beb8e grads[l0]=4519d268
SRN-nonlinearity=tanh-residual=True wide float32 c/avx512 y=69b42869 hT=eb6cc3bd y(train=False)=69b42869 hT(train=False)=eb6cc3bd dx=b30c48c5 dh0=354beb8e grads[l0]=4519d268
SRN-nonlinearity=tanh-residual=True wide float64 numpy y=11ee22ba hT=e67cc1ad y(train=False)=11ee22ba hT(train=False)=e67cc1ad dx=8556fe1f dh0=2d2aeda5 grads[l0]=139d0935
SRN-nonlinearity=tanh-residual=True wide float64 c/generic y=9810ea1e hT=8d36b184 y(train=False)=9810ea1e hT(train=False)=8d36b184 dx=e0075308 dh0=e5364c43 grads[l0]=7e52d06a
SRN-nonlinearity=tanh-residual=True wide float64 c/avx2 y=d9872d7d hT=43d1533a y(train=False)=d9872d7d hT(train=False)=43d1533a dx=d45c2fe2 dh0=11290a74 grads[l0]=b216cfea
SRN-nonlinearity=tanh-residual=True wide float64 c/avx512 y=d9872d7d hT=43d1533a y(train=False)=d9872d7d hT(train=False)=43d1533a dx=d45c2fe2 dh0=11290a74 grads[l0]=b216cfea
LSTM wide float32 numpy y=288d7764 hT=59369324 cT=2052a9c8 y(train=False)=288d7764 hT(train=False)=59369324 cT(train=False)=2052a9c8 dx=0a78c880 dh0=2d811d25 dc0=8e75d3ad grads[l0]=1f52cc15
LSTM wide float32 c/generic y=bbf1a222 hT=944ddf8f cT=39bcc68d y(train=False)=bbf1a222 hT(train=False)=944ddf8f cT(train=False)=39bcc68d dx=b4e4ed7c dh0=ec14c85c dc0=751ce8c9 grads[l0]=5fdc4a60
LSTM wide float32 c/avx2 y=0cd80cff hT=8a5b4f04 cT=61d9b5ce y(train=False)=0cd80cff hT(train=False)=8a5b4f04 cT(train=False)=61d9b5ce dx=8b739e03 dh0=b9822e67 dc0=5b95e340 grads[l0]=6deb55cf
LSTM wide float32 c/avx512 y=0cd80cff hT=8a5b4f04 cT=61d9b5ce y(train=False)=0cd80cff hT(train=False)=8a5b4f04 cT(train=False)=61d9b5ce dx=8b739e03 dh0=b9822e67 dc0=5b95e340 grads[l0]=6deb55cf
LSTM wide float64 numpy y=1b1bd174 hT=0d4a88f1 cT=6543e1ba y(train=False)=1b1bd174 hT(train=False)=0d4a88f1 cT(train=False)=6543e1ba dx=6aefa784 dh0=722770c1 dc0=5a4a03d1 grads[l0]=8357b7da
LSTM wide float64 c/generic y=3637c2f6 hT=7496ed10 cT=f8a25814 y(train=False)=3637c2f6 hT(train=False)=7496ed10 cT(train=False)=f8a25814 dx=75f2eff2 dh0=58bb9e71 dc0=e17f9e6a grads[l0]=99cefa64
LSTM wide float64 c/avx2 y=aaae1045 hT=83d53752 cT=1d0a2dbd y(train=False)=aaae1045 hT(train=False)=83d53752 cT(train=False)=1d0a2dbd dx=ba185de3 dh0=e93c7f55 dc0=1460e82d grads[l0]=7e0efff5
LSTM wide float64 c/avx512 y=aaae1045 hT=83d53752 cT=1d0a2dbd y(train=False)=aaae1045 hT(train=False)=83d53752 cT(train=False)=1d0a2dbd dx=ba185de3 dh0=e93c7f55 dc0=1460e82d grads[l0]=7e0efff5
GRU-reset_after=True wide float32 numpy y=898b7e17 hT=9680c9d4 y(train=False)=898b7e17 hT(train=False)=9680c9d4 dx=d654d55b dh0=2c86ed76 grads[l0]=f18e1fbd
GRU-reset_after=True wide float32 c/generic y=fcbd508a hT=916944c4 y(train=False)=fcbd508a hT(train=False)=916944c4 dx=b38d7c31 dh0=de0a6698 grads[l0]=b57af55b
GRU-reset_after=True wide float32 c/avx2 y=05026d02 hT=203d828c y(train=False)=05026d02 hT(train=False)=203d828c dx=93205855 dh0=4c1820a6 grads[l0]=ccfd00c5
GRU-reset_after=True wide float32 c/avx512 y=05026d02 hT=203d828c y(train=False)=05026d02 hT(train=False)=203d828c dx=93205855 dh0=4c1820a6 grads[l0]=ccfd00c5
GRU-reset_after=True wide float64 numpy y=4bd99f2a hT=dd9ef4ed y(train=False)=4bd99f2a hT(train=False)=dd9ef4ed dx=667a7816 dh0=8e4b05df grads[l0]=a1ce909c
GRU-reset_after=True wide float64 c/generic y=1e5aca47 hT=1977605b y(train=False)=1e5aca47 hT(train=False)=1977605b dx=c0824113 dh0=cdb7b33a grads[l0]=c480c30f
GRU-reset_after=True wide float64 c/avx2 y=54f391c1 hT=8bfd1cbc y(train=False)=54f391c1 hT(train=False)=8bfd1cbc dx=d5edb9e3 dh0=fb946b96 grads[l0]=a6da26c9
GRU-reset_after=True wide float64 c/avx512 y=54f391c1 hT=8bfd1cbc y(train=False)=54f391c1 hT(train=False)=8bfd1cbc dx=d5edb9e3 dh0=fb946b96 grads[l0]=a6da26c9
GRU-reset_after=False wide float32 numpy y=9c7a2345 hT=4779df80 y(train=False)=9c7a2345 hT(train=False)=4779df80 dx=9f92b3b0 dh0=481259a0 grads[l0]=49b09746
GRU-reset_after=False wide float32 c/generic y=09eef757 hT=2c902540 y(train=False)=09eef757 hT(train=False)=2c902540 dx=4b83ceca dh0=2c8f3f13 grads[l0]=b43d88a8
GRU-reset_after=False wide float32 c/avx2 y=7336497a hT=be12e83c y(train=False)=7336497a hT(train=False)=be12e83c dx=dbdecd62 dh0=401f5388 grads[l0]=562a076e
GRU-reset_after=False wide float32 c/avx512 y=7336497a hT=be12e83c y(train=False)=7336497a hT(train=False)=be12e83c dx=dbdecd62 dh0=401f5388 grads[l0]=562a076e
GRU-reset_after=False wide float64 numpy y=9224ed24 hT=3a131b18 y(train=False)=9224ed24 hT(train=False)=3a131b18 dx=c279d092 dh0=d58ca4d6 grads[l0]=3f245f98
GRU-reset_after=False wide float64 c/generic y=bee78f15 hT=d10b1faa y(train=False)=bee78f15 hT(train=False)=d10b1faa dx=c310bca4 dh0=df1b3e8c grads[l0]=63bf3df5
GRU-reset_after=False wide float64 c/avx2 y=47732e01 hT=3e3ebf8f y(train=False)=47732e01 hT(train=False)=3e3ebf8f dx=4402abbd dh0=d8b5757c grads[l0]=db6fe61e
GRU-reset_after=False wide float64 c/avx512 y=47732e01 hT=3e3ebf8f y(train=False)=47732e01 hT(train=False)=3e3ebf8f dx=4402abbd dh0=d8b5757c grads[l0]=db6fe61e
"""


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        _update(__file__)
    else:
        print(_table())

"""ONNX export and import, checked against the format's own runtimes.

Oracles: ONNX Runtime (float32; it has no float64 RNN/LSTM/GRU kernels and no
``layout=1``), onnx's reference evaluator (float64, no ``sequence_lens``: it
ignores them), the truncated sequence run alone (for ``sequence_lens``), and
``torch.onnx.export`` files compared with the torch module that wrote them.
"""

import io
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastrnn
from conftest import CELL_VARIANTS, make_layer, variant_id

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import fastrnn.onnx as fonnx  # noqa: E402

EXPORTABLE = [v for v in CELL_VARIANTS if not v[1].get("residual")]
ATOL = {np.float32: 1e-5, np.float64: 1e-10}


def ort_session(proto):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def reference_run(proto, feeds):
    """onnx's reference evaluator, with Relu and Sigmoid added to its RNN operator.

    The evaluator's RNN knows only Tanh; the two activations are the ONNX
    spec's one-line definitions, everything else is the evaluator's own code.
    """
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.ops.op_rnn import RNN_14

    class RNN(RNN_14):
        op_domain = ""

        def choose_act(self, name, alpha, beta):
            if name == "Relu":
                return lambda x: np.maximum(x, 0)
            if name == "Sigmoid":
                return lambda x: 1 / (1 + np.exp(-x))
            return super().choose_act(name, alpha, beta)
    return ReferenceEvaluator(proto, new_ops=[RNN]).run(None, feeds)


def random_lengths(rng, T, N):
    lengths = rng.integers(1, T + 1, N)
    lengths[0], lengths[-1] = T, 1              # the two ends always
    return lengths


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def feeds_for(layer, x, rng, state=False, lengths=None):
    feeds, s = {"x": x}, None
    if state:
        shape = (layer.num_layers * layer.num_directions, x.shape[0 if layer.batch_first else 1],
                 layer.hidden_size)
        hs = tuple(rng.standard_normal(shape).astype(layer.dtype)
                   for _ in range(2 if isinstance(layer, fastrnn.LSTM) else 1))
        feeds.update(zip(("h0", "c0"), hs))
        s = hs if len(hs) == 2 else hs[0]
    if lengths is not None:
        feeds["lengths"] = lengths
    return feeds, s


def assert_same_parameters(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


# --- export, run in ONNX Runtime ---------------------------------------------------------


@pytest.mark.parametrize("variant", EXPORTABLE, ids=variant_id)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_inputs", [False, True], ids=["plain", "state+lengths"])
def test_export_matches_onnxruntime(backend, variant, num_layers, bidirectional, batch_first,
                                    with_inputs, rng):
    T, N, I, H = 6, 5, 3, 4
    layer = make_layer(variant, input_size=I, hidden_size=H, num_layers=num_layers,
                       bidirectional=bidirectional, batch_first=batch_first, seed=3)
    proto = fonnx.to_onnx(layer, initial_state=with_inputs, lengths=with_inputs)
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I)).astype(np.float32)
    lengths = random_lengths(rng, T, N) if with_inputs else None
    feeds, state = feeds_for(layer, x, rng, with_inputs, lengths)
    got = ort_session(proto).run(None, feeds)
    y, final = layer.forward(x, state=state, lengths=lengths, train=False)
    expected = [y, *as_tuple(final)]
    assert [o.name for o in proto.graph.output] == ["y", "hn", "cn"][:len(expected)]
    for name, a, b in zip(("y", "hn", "cn"), got, expected):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)
    if lengths is not None:                          # past each end: exactly 0 in both
        past = ~fastrnn.length_mask(lengths, T, batch_first)
        assert not np.any(got[0][past]) and not np.any(y[past])


def test_sequence_lens_is_each_sequence_run_alone(rng):
    """ORT's sequence_lens: every sequence (reverse direction too) as if run alone, as in fastrnn."""
    T, N = 7, 4
    layer = fastrnn.GRU(3, 4, num_layers=2, bidirectional=True, seed=5)
    session = ort_session(fonnx.to_onnx(layer, lengths=True))
    x = rng.standard_normal((T, N, 3)).astype(np.float32)
    lengths = np.array([7, 3, 1, 5])
    y, hn = session.run(None, {"x": x, "lengths": lengths})
    alone = ort_session(fonnx.to_onnx(layer))
    for n, L in enumerate(lengths):
        y_n, hn_n = alone.run(None, {"x": np.ascontiguousarray(x[:L, n:n + 1])})
        np.testing.assert_allclose(y[:L, n:n + 1], y_n, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(hn[:, n:n + 1], hn_n, rtol=1e-6, atol=1e-6)
        assert not np.any(y[L:, n])


@pytest.mark.parametrize("variant", EXPORTABLE, ids=variant_id)
@pytest.mark.parametrize("batch_first", [False, True])
def test_export_float64_matches_reference_evaluator(variant, batch_first, rng):
    layer = make_layer(variant, input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                       batch_first=batch_first, dtype=np.float64, seed=4)
    proto = fonnx.to_onnx(layer, initial_state=True)
    x = rng.standard_normal((5, 6, 3))
    feeds, state = feeds_for(layer, x, rng, state=True)
    got = reference_run(proto, feeds)
    y, final = layer.forward(x, state=state, train=False)
    for a, b in zip(got, [y, *as_tuple(final)]):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_float64_in_onnxruntime_when_it_can(rng):
    """ONNX Runtime 1.x has no float64 RNN/LSTM/GRU kernels; when one does, it must agree at 1e-10."""
    ort = pytest.importorskip("onnxruntime")
    layer = fastrnn.LSTM(3, 4, bidirectional=True, dtype=np.float64, seed=1)
    x = rng.standard_normal((6, 2, 3))
    try:
        got = ort_session(fonnx.to_onnx(layer, lengths=True)).run(
            None, {"x": x, "lengths": np.array([6, 2])})
    except (ort.capi.onnxruntime_pybind11_state.NotImplemented,
            ort.capi.onnxruntime_pybind11_state.RuntimeException) as exc:
        pytest.skip(f"ONNX Runtime {ort.__version__} cannot run a float64 LSTM: "
                    f"{str(exc).splitlines()[0][:120]}")
    y, (h, c) = layer.forward(x, lengths=np.array([6, 2]), train=False)
    for a, b in zip(got, (y, h, c)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def classifier(pool, batch_first, embedding=True, dtype=np.float32):
    rnn = fastrnn.GRU(5, 4, num_layers=2, bidirectional=True, batch_first=batch_first,
                      dtype=dtype, seed=2)
    emb = fastrnn.Embedding(11, 5, padding_idx=0, dtype=dtype, seed=3) if embedding else None
    return fastrnn.SequenceClassifier(rnn, 3, pool=pool, embedding=emb, seed=4)


def sequential(batch_first, dtype=np.float32):
    return fastrnn.Sequential(
        fastrnn.Linear(3, 5, dtype=dtype, seed=1),
        fastrnn.LSTM(5, 4, batch_first=batch_first, dtype=dtype, seed=2),
        fastrnn.SRN(4, 4, num_layers=2, nonlinearity="relu", bidirectional=True,
                    batch_first=batch_first, dtype=dtype, seed=3),
        fastrnn.Linear(8, 2, bias=False, dtype=dtype, seed=4))


@pytest.mark.parametrize("pool", ["last", "mean"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_classifier_matches_onnxruntime(backend, pool, batch_first, with_lengths, rng):
    model = classifier(pool, batch_first)
    T, N = 7, 6
    ids = rng.integers(0, 11, (N, T) if batch_first else (T, N))
    lengths = random_lengths(rng, T, N) if with_lengths else None
    feeds = {"x": ids} if lengths is None else {"x": ids, "lengths": lengths}
    (logits,) = ort_session(fonnx.to_onnx(model, lengths=with_lengths)).run(None, feeds)
    np.testing.assert_allclose(logits, model.forward(ids, lengths=lengths, train=False),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch_first", [False, True])
def test_tagger_and_sequential_match_onnxruntime(backend, batch_first, rng):
    T, N = 6, 5
    x = rng.standard_normal((N, T, 3) if batch_first else (T, N, 3)).astype(np.float32)
    lengths = random_lengths(rng, T, N)
    tagger = fastrnn.SequenceTagger(fastrnn.LSTM(3, 4, bidirectional=True,
                                                 batch_first=batch_first, seed=5), 6, seed=1)
    (logits,) = ort_session(fonnx.to_onnx(tagger, lengths=True)).run(
        None, {"x": x, "lengths": lengths})
    np.testing.assert_allclose(logits, tagger.forward(x, lengths=lengths, train=False),
                               rtol=1e-5, atol=1e-5)

    model = sequential(batch_first)
    proto = fonnx.to_onnx(model, initial_state=True, lengths=True)
    assert [i.name for i in proto.graph.input] == ["x", "h0_0", "c0_0", "h0_1", "lengths"]
    assert [o.name for o in proto.graph.output] == ["y", "hn_0", "cn_0", "hn_1"]
    h0, c0 = (rng.standard_normal((1, N, 4)).astype(np.float32) for _ in range(2))
    h1 = rng.standard_normal((4, N, 4)).astype(np.float32)
    got = ort_session(proto).run(None, {"x": x, "h0_0": h0, "c0_0": c0, "h0_1": h1,
                                        "lengths": lengths})
    y, ((h, c), hn1) = model.forward(x, state=[(h0, c0), h1], lengths=lengths, train=False)
    for a, b in zip(got, (y, h, c, hn1)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_graph_layout_can_differ_from_the_model(rng):
    layer = fastrnn.LSTM(3, 4, num_layers=2, seed=1)                       # time-major
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)                 # fed batch-first
    y, hn, cn = ort_session(fonnx.to_onnx(layer, batch_first=True)).run(None, {"x": x})
    y_ref, (h_ref, c_ref) = layer.forward(x.transpose(1, 0, 2), train=False)
    np.testing.assert_allclose(y, y_ref.transpose(1, 0, 2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hn, h_ref, rtol=1e-5, atol=1e-5)
    back = fonnx.from_onnx(fonnx.to_onnx(layer, batch_first=True))
    assert back.batch_first is True
    np.testing.assert_array_equal(back.forward(x)[0], layer.forward(x.transpose(1, 0, 2))[0]
                                  .transpose(1, 0, 2))


@pytest.mark.parametrize("opset", [fonnx.MIN_OPSET, None, "newest"])
def test_opsets_run(opset, rng):
    opset = onnx.defs.onnx_opset_version() if opset == "newest" else opset
    model = classifier("mean", False)
    proto = fonnx.to_onnx(model, opset=opset, lengths=True)
    assert proto.opset_import[0].version == (opset or fonnx.DEFAULT_OPSET)
    ids, lengths = rng.integers(0, 11, (5, 3)), np.array([5, 1, 3])
    try:
        session = ort_session(proto)
    except Exception as exc:                      # a newer opset than this ORT knows
        if opset == onnx.defs.onnx_opset_version():
            pytest.skip(f"onnxruntime does not run opset {opset}: {str(exc)[:100]}")
        raise
    (logits,) = session.run(None, {"x": ids, "lengths": lengths})
    np.testing.assert_allclose(logits, model.forward(ids, lengths=lengths), rtol=1e-5, atol=1e-5)


def test_export_is_deterministic_and_dims_symbolic():
    layer = fastrnn.GRU(3, 4, bidirectional=True, seed=0)
    a, b = (fonnx.to_onnx(layer, lengths=True).SerializeToString() for _ in range(2))
    assert a == b
    x = fonnx.to_onnx(layer).graph.input[0]
    assert [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim] == ["T", "N", 3]


# --- round trips fastrnn -> ONNX -> fastrnn ---------------------------------------------


@pytest.mark.parametrize("variant", EXPORTABLE, ids=variant_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_round_trip_layers_bit_identical(variant, dtype, bias, tmp_path):
    for num_layers, bidirectional, batch_first in [(1, False, False), (2, True, True),
                                                   (3, False, True), (2, True, False)]:
        layer = make_layer(variant, input_size=3, hidden_size=4, num_layers=num_layers,
                           bidirectional=bidirectional, batch_first=batch_first, bias=bias,
                           dtype=dtype, seed=7)
        path = fonnx.export(layer, tmp_path / "m.onnx", initial_state=True, lengths=True)
        back = fonnx.load(path)
        assert repr(back) == repr(layer)
        assert_same_parameters(back, layer)


@pytest.mark.parametrize("name", ["classifier-last", "classifier-mean", "tagger", "sequential",
                                  "embedding-sequential"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_models_bit_identical(name, dtype, rng):
    if name.startswith("classifier"):
        model = classifier(name.split("-")[1], True, dtype=dtype)
    elif name == "tagger":
        model = fastrnn.SequenceTagger(fastrnn.GRU(3, 4, reset_after=False, dtype=dtype, seed=1),
                                       5, seed=2)
    elif name == "sequential":
        model = sequential(False, dtype)
    else:
        model = fastrnn.Sequential(fastrnn.Embedding(9, 3, dtype=dtype, seed=1),
                                   fastrnn.GRU(3, 4, num_layers=2, dtype=dtype, seed=2),
                                   fastrnn.GRU(4, 4, dtype=dtype, seed=3))
    for lengths in (False, True):
        back = fonnx.from_onnx(fonnx.to_onnx(model, lengths=lengths))
        assert repr(back) == repr(model)
        assert_same_parameters(back, model)


def test_grouping_without_fastrnn_metadata(rng):
    """Without the metadata, compatible stacked nodes merge unless state inputs/outputs split them."""
    model = fastrnn.Sequential(fastrnn.Embedding(9, 3, seed=1), fastrnn.GRU(3, 4, num_layers=2,
                                                                            seed=2),
                               fastrnn.GRU(4, 4, seed=3))
    ids = rng.integers(0, 9, (5, 2))
    y, _ = model.forward(ids, train=False)
    proto = fonnx.to_onnx(model)
    del proto.metadata_props[:]
    merged = fonnx.from_onnx(proto)                     # states are outputs: hn_0 (2), hn_1 (1)
    assert [getattr(m, "num_layers", None) for m in merged.layers] == [None, 2, 1]
    proto = fonnx.to_onnx(model)
    del proto.metadata_props[:]
    keep = [o for o in proto.graph.output if o.name == "y"]
    del proto.graph.output[:]
    proto.graph.output.extend(keep)                     # y only: nothing says where to split
    merged = fonnx.from_onnx(proto)
    assert [getattr(m, "num_layers", None) for m in merged.layers] == [None, 3]
    np.testing.assert_array_equal(merged.forward(ids, train=False)[0], y)
    tagger = fastrnn.SequenceTagger(fastrnn.LSTM(3, 4, seed=1), 5, seed=2)
    proto = fonnx.to_onnx(tagger)
    del proto.metadata_props[:]
    assert type(fonnx.from_onnx(proto)).__name__ == "Sequential"   # same graph, generic class


def test_load_refuses_a_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x00\xffnot a protobuf")
    with pytest.raises(ValueError, match="not an ONNX model file"):
        fonnx.load(path)


# --- torch.onnx.export files -------------------------------------------------------------


def torch_export(module, args, input_names, output_names, dynamic_axes):
    torch = pytest.importorskip("torch")
    f = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, f, dynamo=False, input_names=input_names,
                              output_names=output_names, dynamic_axes=dynamic_axes)
    except (ImportError, RuntimeError) as exc:
        pytest.skip(f"torch.onnx.export (dynamo=False) is unavailable here: {exc}")
    return onnx.load_from_string(f.getvalue())


# (num_layers, bidirectional, batch_first, with_state, dynamic): torch's exporter takes ~1 s
# per stacked bidirectional LSTM, so a covering subset rather than the full product.
TORCH_CASES = [(1, False, False, False, False), (1, True, True, True, True),
               (2, False, False, True, True), (2, True, True, False, False)]


@pytest.mark.parametrize("kind", ["RNN-tanh", "RNN-relu", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,with_state,dynamic", TORCH_CASES)
def test_load_torch_export(kind, num_layers, bidirectional, batch_first, with_state, dynamic,
                           rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    name, _, nonlinearity = kind.partition("-")
    kw = {"nonlinearity": nonlinearity} if nonlinearity else {}
    module = getattr(torch.nn, name)(3, 4, num_layers=num_layers, bidirectional=bidirectional,
                                     batch_first=batch_first, **kw)
    D, N, T = 2 if bidirectional else 1, 2, 5
    x = torch.randn((N, T, 3) if batch_first else (T, N, 3))
    states = tuple(torch.randn(num_layers * D, N, 4) for _ in range(2 if name == "LSTM" else 1))
    args = (x, states if name == "LSTM" else states[0]) if with_state else (x,)
    inputs = ["x"] + (["h0", "c0"][:len(states)] if with_state else [])
    outputs = ["y", "hn", "cn"][:2 + (name == "LSTM")]
    dynamic_axes = None
    if dynamic:
        seq = {0: "N", 1: "T"} if batch_first else {0: "T", 1: "N"}
        dynamic_axes = {"x": seq, "y": seq, **{s: {1: "N"} for s in inputs[1:] + outputs[1:]}}
    layer = fonnx.from_onnx(torch_export(module, args, inputs, outputs, dynamic_axes))
    assert type(layer).__name__ == {"RNN": "SRN"}.get(name, name)
    assert (layer.num_layers, layer.bidirectional, layer.batch_first) == (num_layers,
                                                                         bidirectional,
                                                                         batch_first)
    ours = layer.state_dict()
    for key, value in module.state_dict().items():
        np.testing.assert_array_equal(ours[key], value.numpy(), err_msg=key)
    with torch.no_grad():
        y_t, final_t = module(*args)
    state = None
    if with_state:
        state = tuple(s.numpy() for s in states) if name == "LSTM" else states[0].numpy()
    y, final = layer.forward(x.numpy(), state=state, train=False)
    np.testing.assert_allclose(y, y_t.numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(as_tuple(final), as_tuple(final_t)):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-5)


def test_load_torch_export_float64(rng):
    torch = pytest.importorskip("torch")
    module = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    layer = fonnx.from_onnx(torch_export(module, (x,), ["x"], ["y", "hn"], None))
    assert layer.dtype == np.float64
    with torch.no_grad():
        y_t, h_t = module(x)
    y, h = layer.forward(x.numpy())
    np.testing.assert_allclose(y, y_t.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(h, h_t.numpy(), rtol=0, atol=1e-12)


# --- graphs from elsewhere: layout=1, and what fastrnn refuses ---------------------------


def hand_made(op, attrs=None, extra_inputs=(), G=4, H=3, I=2, D=1, dtype=np.float32,
              node_name="cell", layout=0, P=None):
    """A one-node graph x -> op -> Y with random constant W, R, B (and P)."""
    rng = np.random.default_rng(0)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(dtype), n)
             for n, s in (("W", (D, G * H, I)), ("R", (D, G * H, H)), ("B", (D, 2 * G * H)))]
    inputs = ["x", "W", "R", "B", *extra_inputs]
    if P is not None:
        inits.append(numpy_helper.from_array(P.astype(dtype), "P"))
        inputs += [""] * (7 - len(inputs)) + ["P"]
    node = helper.make_node(op, inputs, ["Y"], name=node_name, hidden_size=H,
                            **(attrs or {}))
    dims = ["N", "T", I] if layout else ["T", "N", I]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", elem, dims)],
                              [helper.make_tensor_value_info("Y", elem, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def squeezed(proto, layout=0):
    """Append Squeeze of the direction axis so that Y is (T, N, H) as fastrnn outputs it."""
    axis = numpy_helper.from_array(np.array([2 if layout else 1]), "axis")
    proto.graph.initializer.append(axis)
    proto.graph.node.append(helper.make_node("Squeeze", ["Y", "axis"], ["y"], name="squeeze"))
    del proto.graph.output[:]
    proto.graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, None))
    return proto


@pytest.mark.parametrize("op,G", [("LSTM", 4), ("GRU", 3), ("RNN", 1)])
def test_load_layout_1_graph(op, G, rng):
    """ONNX's batch-major layout (which ONNX Runtime does not run): the reference evaluator does."""
    proto = squeezed(hand_made(op, {"layout": 1}, G=G, layout=1), layout=1)
    layer = fonnx.from_onnx(proto)
    assert layer.batch_first
    x = rng.standard_normal((4, 5, 2)).astype(np.float32)
    (expected,) = reference_run(proto, {"x": x})
    np.testing.assert_allclose(layer.forward(x)[0], expected, rtol=1e-5, atol=1e-6)


def test_load_zero_peepholes_and_default_activations(rng):
    proto = squeezed(hand_made("LSTM", {"activations": ["Sigmoid", "Tanh", "Tanh"]},
                               P=np.zeros((1, 9))))
    layer = fonnx.from_onnx(proto)
    x = rng.standard_normal((5, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(layer.forward(x)[0], ort_session(proto).run(None, {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case,match", [
    ("peepholes", r"node 'cell' \(LSTM\): input P \(peepholes\)"),
    ("clip", r"node 'cell' \(LSTM\): attribute clip"),
    ("input_forget", r"node 'cell' \(LSTM\): attribute input_forget"),
    ("lstm-activations", r"node 'cell' \(LSTM\): attribute activations"),
    ("rnn-activations", r"node 'cell' \(RNN\): attribute activations"),
    ("mixed-activations", r"node 'cell' \(RNN\): attribute activations"),
    ("reverse", r"node 'cell' \(GRU\): attribute direction='reverse'"),
    ("alpha", r"node 'cell' \(RNN\): attribute activation_alpha"),
    ("weights-input", r"graph input 'W': used as a weight"),
    ("unknown-op", r"node 'act' \(Relu\): operator Relu is not supported"),
    ("skip", r"node 'skip' \(Add\)"),
    ("sequence_lens-constant", r"node 'cell' \(GRU\): input sequence_lens"),
])
def test_load_refuses_what_fastrnn_cannot_compute(case, match):
    if case == "peepholes":
        proto = hand_made("LSTM", P=np.ones((1, 9)))
    elif case == "clip":
        proto = hand_made("LSTM", {"clip": 1.0})
    elif case == "input_forget":
        proto = hand_made("LSTM", {"input_forget": 1})
    elif case == "lstm-activations":
        proto = hand_made("LSTM", {"activations": ["Sigmoid", "Tanh", "Relu"]})
    elif case == "rnn-activations":
        proto = hand_made("RNN", {"activations": ["LeakyRelu"]}, G=1)
    elif case == "mixed-activations":
        proto = hand_made("RNN", {"activations": ["Tanh", "Relu"], "direction": "bidirectional"},
                          G=1, D=2)
    elif case == "reverse":
        proto = hand_made("GRU", {"direction": "reverse"}, G=3)
    elif case == "alpha":
        proto = hand_made("RNN", {"activations": ["Tanh"], "activation_alpha": [0.5]}, G=1)
    elif case == "weights-input":
        proto = hand_made("RNN", G=1)
        proto.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT,
                                                               [1, 3, 2]))
        del proto.graph.initializer[0]
    elif case == "sequence_lens-constant":
        proto = hand_made("GRU", G=3, extra_inputs=["lens"])
        proto.graph.initializer.append(numpy_helper.from_array(np.array([2, 2], np.int32),
                                                               "lens"))
    else:
        proto = squeezed(hand_made("GRU", G=3))
        op = ("Relu", ["y"]) if case == "unknown-op" else ("Add", ["y", "x"])
        proto.graph.node.append(helper.make_node(op[0], op[1], ["z"],
                                                 name="act" if case == "unknown-op" else "skip"))
        proto.graph.output[0].name = "z"
    with pytest.raises(ValueError, match=match):
        fonnx.from_onnx(proto)


def test_load_refuses_reverse_only_and_keeps_the_message_short():
    with pytest.raises(ValueError) as info:
        fonnx.from_onnx(hand_made("GRU", {"direction": "reverse"}, G=3))
    assert "forward or bidirectional" in str(info.value)


# --- argument errors, atomic writes, laziness -------------------------------------------


def test_export_refusals(tmp_path):
    with pytest.raises(ValueError, match="residual SRN"):
        fonnx.to_onnx(fastrnn.SRN(3, 4, residual=True))
    seq2seq = fastrnn.Seq2Seq(fastrnn.LSTM(3, 4), fastrnn.LSTM(2, 4), 5, 3, 4)
    with pytest.raises(TypeError, match="Seq2Seq"):
        fonnx.to_onnx(seq2seq)
    with pytest.raises(TypeError, match="model: expected"):
        fonnx.to_onnx(object())
    with pytest.raises(ValueError, match="opset"):
        fonnx.to_onnx(fastrnn.GRU(3, 4), opset=7)
    with pytest.raises(TypeError, match="opset"):
        fonnx.to_onnx(fastrnn.GRU(3, 4), opset="17")
    with pytest.raises(TypeError, match="batch_first"):
        fonnx.to_onnx(fastrnn.GRU(3, 4), batch_first=1)
    with pytest.raises(TypeError, match="lengths"):
        fonnx.to_onnx(fastrnn.GRU(3, 4), lengths="yes")
    with pytest.raises(TypeError, match="path"):
        fonnx.export(fastrnn.GRU(3, 4), 42)
    with pytest.raises(TypeError, match="path"):
        fonnx.load(42)
    with pytest.raises(TypeError, match="ModelProto"):
        fonnx.from_onnx(b"bytes")


def test_failed_export_leaves_the_file_alone(tmp_path):
    path = tmp_path / "model.onnx"
    fonnx.export(fastrnn.GRU(3, 4, seed=1), path)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        fonnx.export(fastrnn.SRN(3, 4, residual=True), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]
    with pytest.raises(ValueError):
        fonnx.export(fastrnn.SRN(3, 4, residual=True), tmp_path / "new.onnx")
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]


def test_import_fastrnn_does_not_import_onnx_or_keras():
    code = ("import sys, fastrnn; assert 'onnx' not in sys.modules and 'keras' not in "
            "sys.modules; import fastrnn.onnx, fastrnn.keras; "
            "assert 'onnx' not in sys.modules and 'keras' not in sys.modules; "
            "assert fastrnn.onnx.export is fastrnn.interop.onnx_export.export; print('ok')")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_example_trains_exports_and_runs_in_onnxruntime(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "onnx_deploy", Path(__file__).resolve().parents[1] / "examples" / "onnx_deploy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    diff, same, identical = module.main(["--steps", "5", "--out", str(tmp_path / "c.onnx")])
    assert diff < 1e-4 and identical and same > 0.99
    assert "ONNX Runtime" in capsys.readouterr().out

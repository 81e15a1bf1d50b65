"""Keras weight conversion, checked by running the Keras layers (torch backend) on the same input.

Tolerances: float32 1e-5. In float64, Keras's LSTM and reset-after GRU agree to
1e-10; its SimpleRNN and reset-before GRU do not, because Keras 3's type
promotion (``keras.backend.result_type("float64", "float64") == "float32"`` on
non-TensorFlow backends) makes ``keras.ops.matmul`` compute their products in
float32, so those two are compared at float32's tolerance (a wrong layout is
off by O(1), so the comparison still checks it).
"""

import os
import sys

import numpy as np
import pytest

import fastrnn
import fastrnn.keras as fkeras
from conftest import CELL_VARIANTS, make_layer, variant_id

KERAS_VARIANTS = [v for v in CELL_VARIANTS if not v[1].get("residual")]


def keras_module():
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"
    pytest.importorskip("torch")
    return pytest.importorskip("keras")


def run_keras(layers, x):
    keras = keras_module()
    return keras.ops.convert_to_numpy(keras.Sequential(layers)(x))


def tolerance(variant, dtype):
    if dtype == np.float32:
        return 1e-5
    exact_in_keras = variant[0] == "LSTM" or variant[1].get("reset_after") is True
    return 1e-10 if exact_in_keras else 1e-5


def randomize(layer, seed):
    """Every parameter random (fastrnn's default init leaves nothing zero, but be explicit)."""
    layer.params_flat[...] = np.random.default_rng(seed).uniform(-0.5, 0.5,
                                                                  layer.params_flat.size)
    return layer


# --- pure weight conversion (no keras) ---------------------------------------------------


@pytest.mark.parametrize("variant", KERAS_VARIANTS, ids=variant_id)
def test_weight_shapes_and_bias_rules(variant):
    layer = randomize(make_layer(variant, input_size=3, hidden_size=4, num_layers=2,
                                 bidirectional=True, dtype=np.float64), 1)
    weights = fkeras.to_keras_weights(layer)
    G = {"SRN": 1, "LSTM": 4, "GRU": 3}[variant[0]]
    two = variant[0] == "GRU" and variant[1]["reset_after"]
    bias_shape = (2, G * 4) if two else (G * 4,)
    assert [[w.shape for w in ws] for ws in weights] == [
        [(3, G * 4), (4, G * 4), bias_shape] * 2, [(8, G * 4), (4, G * 4), bias_shape] * 2]
    p = layer.params
    order = {"SRN": [0], "LSTM": [0, 1, 2, 3], "GRU": [1, 0, 2]}[variant[0]]

    def blocks(v):
        return np.concatenate([np.split(v, G)[k] for k in order])
    backward_bias = weights[1][5]
    if two:
        np.testing.assert_array_equal(backward_bias[0], blocks(p["bias_ih_l1_reverse"]))
        np.testing.assert_array_equal(backward_bias[1], blocks(p["bias_hh_l1_reverse"]))
    else:            # one Keras bias: the sum, one rounding per entry
        np.testing.assert_array_equal(backward_bias, blocks(p["bias_ih_l1_reverse"]
                                                            + p["bias_hh_l1_reverse"]))
    np.testing.assert_array_equal(weights[1][3], blocks(p["weight_ih_l1_reverse"]).T)


@pytest.mark.parametrize("variant", KERAS_VARIANTS, ids=variant_id)
@pytest.mark.parametrize("bias", [True, False])
def test_keras_to_fastrnn_to_keras_is_bit_identical(variant, bias):
    template = make_layer(variant, input_size=3, hidden_size=4, num_layers=2,
                          bidirectional=True, bias=bias, dtype=np.float32)
    rng = np.random.default_rng(2)
    weights = [[rng.standard_normal(w.shape).astype(np.float32) for w in ws]
               for ws in fkeras.to_keras_weights(template)]
    layer = fkeras.load_keras_weights(template, weights)
    again = fkeras.to_keras_weights(layer)
    for ws, vs in zip(weights, again):
        for w, v in zip(ws, vs):
            np.testing.assert_array_equal(w, v)
    if bias and not (variant[0] == "GRU" and variant[1]["reset_after"]):
        assert not np.any(layer.params["bias_hh_l0"])           # a single bias goes to b_ih
    flat = [w for ws in weights for w in ws]                      # keras.Sequential's flat list
    assert fkeras.load_keras_weights(make_layer(variant, input_size=3, hidden_size=4,
                                                num_layers=2, bidirectional=True, bias=bias),
                                     flat).state_dict().keys() == layer.state_dict().keys()


def test_load_keras_weights_checks_everything_first():
    layer = fastrnn.LSTM(3, 4, num_layers=2, seed=1)
    before = layer.params_flat.copy()
    good = fkeras.to_keras_weights(layer)
    bad = [list(good[0]), [good[1][0], good[1][1][:, :8], good[1][2]]]
    with pytest.raises(ValueError, match=r"weights\[1\]\[1\] \(recurrent_kernel\)"):
        fkeras.load_keras_weights(layer, bad)
    np.testing.assert_array_equal(layer.params_flat, before)
    with pytest.raises(ValueError, match="expected 2 lists"):
        fkeras.load_keras_weights(layer, good[:1])
    with pytest.raises(ValueError, match="expected 6 arrays"):
        fkeras.load_keras_weights(layer, [w for ws in good for w in ws][:5])
    with pytest.raises(TypeError, match="weights"):
        fkeras.load_keras_weights(layer, np.zeros(3))
    with pytest.raises(TypeError, match="layer"):
        fkeras.to_keras_weights(fastrnn.Linear(3, 4))
    with pytest.raises(ValueError, match="residual"):
        fkeras.to_keras_weights(fastrnn.SRN(3, 4, residual=True))


# --- against Keras itself ----------------------------------------------------------------


@pytest.mark.parametrize("variant", KERAS_VARIANTS, ids=variant_id)
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fastrnn_to_keras_same_outputs(variant, num_layers, bidirectional, dtype):
    keras = keras_module()
    layer = randomize(make_layer(variant, input_size=3, hidden_size=4, num_layers=num_layers,
                                 bidirectional=bidirectional, batch_first=True, dtype=dtype), 3)
    x = np.random.default_rng(4).standard_normal((2, 6, 3)).astype(dtype)
    made = fkeras.to_keras(layer)
    y_keras = run_keras([keras.Input((None, 3), dtype=np.dtype(dtype).name)] + made, x)
    y, _ = layer.forward(x, train=False)
    assert y_keras.shape == y.shape
    np.testing.assert_allclose(y_keras, y, rtol=0, atol=tolerance(variant, dtype))


KERAS_LAYERS = {"SRN": "SimpleRNN", "LSTM": "LSTM", "GRU": "GRU"}


def keras_layers(keras, variant, num_layers, bidirectional, dtype, use_bias=True, top=True):
    name, kw = variant
    layers = []
    for k in range(num_layers):
        options = {"units": 4, "use_bias": use_bias, "dtype": np.dtype(dtype).name,
                   "return_sequences": top or k < num_layers - 1}
        if name == "SRN":
            options["activation"] = kw["nonlinearity"]
        if name == "GRU":
            options["reset_after"] = kw["reset_after"]
        made = getattr(keras.layers, KERAS_LAYERS[name])(**options)
        if bidirectional:
            made = keras.layers.Bidirectional(made, dtype=np.dtype(dtype).name)
        made.build((None, None, 3 if k == 0 else 4 * (1 + bidirectional)))
        rng = np.random.default_rng(10 + k)                    # random biases too
        made.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(dtype)
                          for w in made.get_weights()])
        layers.append(made)
    return layers


@pytest.mark.parametrize("variant", KERAS_VARIANTS, ids=variant_id)
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (1, True), (2, True),
                                                      (3, False)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keras_to_fastrnn_same_outputs(variant, num_layers, bidirectional, dtype):
    keras = keras_module()
    layers = keras_layers(keras, variant, num_layers, bidirectional, dtype)
    layer = fkeras.from_keras(layers)
    assert (type(layer).__name__, layer.num_layers, layer.bidirectional, layer.batch_first,
            layer.dtype) == (variant[0], num_layers, bidirectional, True, np.dtype(dtype))
    x = np.random.default_rng(5).standard_normal((3, 7, 3)).astype(dtype)
    y_keras = run_keras([keras.Input((None, 3), dtype=np.dtype(dtype).name)] + layers, x)
    y, _ = layer.forward(x, train=False)
    np.testing.assert_allclose(y, y_keras, rtol=0, atol=tolerance(variant, dtype))
    time_major = fkeras.from_keras(layers, batch_first=False)
    np.testing.assert_array_equal(time_major.forward(x.transpose(1, 0, 2))[0],
                                  y.transpose(1, 0, 2))


def test_keras_without_bias_and_final_state(rng):
    keras = keras_module()
    layers = keras_layers(keras, ("LSTM", {}), 1, False, np.float32, use_bias=False, top=False)
    layer = fkeras.from_keras(layers[0])
    assert not layer.bias
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    last = run_keras([keras.Input((None, 3))] + layers, x)          # return_sequences=False
    _, (h, _) = layer.forward(x)
    np.testing.assert_allclose(h[0], last, rtol=0, atol=1e-5)


def test_from_keras_refusals():
    keras = keras_module()
    with pytest.raises(ValueError, match="activation"):
        fkeras.from_keras(keras.layers.LSTM(4, activation="relu"))
    with pytest.raises(ValueError, match="go_backwards"):
        fkeras.from_keras(keras.layers.GRU(4, go_backwards=True))
    with pytest.raises(ValueError, match="merge_mode"):
        fkeras.from_keras(keras.layers.Bidirectional(keras.layers.GRU(4), merge_mode="sum"))
    a = keras.layers.GRU(4, return_sequences=True)
    b = keras.layers.LSTM(4)
    for made, features in ((a, 3), (b, 4)):
        made.build((None, None, features))
    with pytest.raises(ValueError, match=r"keras_layers\[1\]: differs"):
        fkeras.from_keras([a, b])
    c = keras.layers.GRU(4)
    c.build((None, None, 3))
    with pytest.raises(ValueError, match="return_sequences=False below"):
        fkeras.from_keras([c, c])
    with pytest.raises(TypeError, match="Keras"):
        fkeras.from_keras([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="no weights"):
        fkeras.from_keras(keras.layers.GRU(4))
    low, high = (keras.layers.GRU(4, return_sequences=True, dtype="float64"),
                 keras.layers.GRU(4, dtype="float32"))
    low.build((None, None, 3))
    high.build((None, None, 4))
    with pytest.raises(ValueError, match="one dtype"):
        fkeras.from_keras([low, high])

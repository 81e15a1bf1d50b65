"""The long-lag task generators and the one-unit linear toy."""

import numpy as np
import pytest

from fastrnn import tasks


def test_adding_problem_marks_targets_and_seed():
    task = tasks.adding_problem(64, 30, seed=3)
    assert task.x.shape == (30, 64, 2) and task.y.shape == (64, 1)
    assert task.kind == "regression" and task.loss == "last"
    marks = task.x[:, :, 1]
    assert np.all(marks.sum(axis=0) == 2) and set(np.unique(marks)) <= {0.0, 1.0}
    first, second = task.info["first"], task.info["second"]
    assert np.all(first < 15) and np.all(second >= 15)
    assert np.all(marks[first, np.arange(64)] == 1) and np.all(marks[second, np.arange(64)] == 1)
    expected = (task.x[:, :, 0] * marks).sum(axis=0)
    np.testing.assert_allclose(task.y[:, 0], expected, rtol=1e-15)
    assert np.all((task.x[:, :, 0] >= 0) & (task.x[:, :, 0] < 1))
    np.testing.assert_array_equal(task.info["lag"], 30 - first)
    assert task.baseline == pytest.approx(1 / 6)
    # the baseline is the variance of the sum of two uniforms
    big = tasks.adding_problem(20000, 4, seed=1)
    assert np.mean((big.y - 1.0) ** 2) == pytest.approx(1 / 6, rel=0.05)


def test_generators_are_reproducible_and_keep_dtype():
    a = tasks.adding_problem(8, 12, seed=5, dtype=np.float32)
    b = tasks.adding_problem(8, 12, seed=5, dtype=np.float32)
    c = tasks.adding_problem(8, 12, seed=6, dtype=np.float32)
    assert a.x.dtype == np.float32 and a.y.dtype == np.float32
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    for make in (lambda s: tasks.copy_problem(4, 5, seed=s), lambda s: tasks.parity_problem(4, 9, seed=s),
                 lambda s: tasks.latching_problem(4, 9, seed=s)):
        np.testing.assert_array_equal(make(1).x, make(1).x)
        np.testing.assert_array_equal(make(1).y, make(1).y)
    # a Generator is accepted and advanced (a stream of fresh batches)
    rng = np.random.default_rng(0)
    assert not np.array_equal(tasks.adding_problem(4, 6, seed=rng).x,
                              tasks.adding_problem(4, 6, seed=rng).x)


def test_adding_problem_rejects_bad_sizes():
    with pytest.raises(ValueError, match="T"):
        tasks.adding_problem(4, 1)
    with pytest.raises(TypeError, match="N"):
        tasks.adding_problem(2.5, 10)


def test_copy_problem_layout():
    task = tasks.copy_problem(16, delay=7, length=4, n_symbols=5, seed=2)
    T = 7 + 2 * 4
    assert task.x.shape == (T, 16, 7) and task.y.shape == (T, 16)
    np.testing.assert_array_equal(task.x.sum(axis=2), 1)            # one-hot
    inputs = task.x.argmax(axis=2)
    symbols = task.info["symbols"]
    assert symbols.min() >= 1 and symbols.max() <= 5
    np.testing.assert_array_equal(inputs[:4], symbols)              # shown first
    np.testing.assert_array_equal(inputs[4:7 + 4 - 1], 0)           # blanks while waiting
    np.testing.assert_array_equal(inputs[7 + 4 - 1], 6)             # the write marker
    np.testing.assert_array_equal(task.y[T - 4:], symbols)          # recalled at the end
    np.testing.assert_array_equal(task.y[:T - 4], 0)
    assert task.baseline == pytest.approx(4 * np.log(5) / T)
    one = tasks.copy_problem(3, delay=10, length=1, seed=0)         # the plain memory task
    assert one.T == 12 and np.all(one.y[-1] == one.info["symbols"][0])


def test_latching_and_parity_labels():
    lat = tasks.latching_problem(200, 20, L=3, noise=0.0, seed=1)
    assert lat.x.shape == (20, 200, 1) and lat.kind == "binary"
    np.testing.assert_array_equal(np.sign(lat.x[:3, :, 0]), np.broadcast_to(2 * lat.y[:, 0] - 1, (3, 200)))
    np.testing.assert_array_equal(lat.x[3:], 0)
    par = tasks.parity_problem(200, 15, n_bits=2, noise=0.0, seed=4)
    bits = (par.x[:2, :, 0] > 0).astype(int)
    np.testing.assert_array_equal(par.y[:, 0], bits[0] ^ bits[1])    # XOR
    assert set(np.unique(par.y)) == {0.0, 1.0}
    whole = tasks.parity_problem(50, 6, n_bits=6, noise=0.0, seed=0)
    np.testing.assert_array_equal(whole.y[:, 0], (whole.x[:, :, 0] > 0).sum(axis=0) % 2)
    with pytest.raises(ValueError, match="n_bits"):
        tasks.parity_problem(4, 3, n_bits=5)


def test_linear_toy_textbook_numbers():
    cliff, plateau = tasks.linear_toy(1.01), tasks.linear_toy(0.99)
    assert cliff.expected_final() == pytest.approx(2.1e4, rel=0.01)      # 1.01^1000 ~ 2.1e4
    assert plateau.expected_final() == pytest.approx(4.3e-5, rel=0.01)   # 0.99^1000 ~ 4.3e-5
    flow = cliff.expected_flow()
    assert flow.shape == (1000,) and flow[-1] == 1.0 and flow[0] == pytest.approx(1.01 ** 999)
    with pytest.raises(ValueError, match="w"):
        tasks.linear_toy(-1.0)


@pytest.mark.parametrize("w", [1.01, 0.99])
def test_linear_toy_on_the_engine(backend, w):
    toy = tasks.linear_toy(w, 1000)
    hT, flow, dh0 = toy.run()
    assert hT == pytest.approx(w ** 1000, rel=1e-12)
    assert dh0 == pytest.approx(w ** 1000, rel=1e-12)
    np.testing.assert_allclose(flow, w ** (999 - np.arange(1000.0)), rtol=1e-11)

"""The gradflow and lag experiments: outputs, and the qualitative claims on short seeded runs."""

import csv

import numpy as np
import pytest

from fastrnn import clip, optim, tasks
from fastrnn import experiments as E
from fastrnn.lab.reporting import figure_backend
from fastrnn.lab.training import AddingModel

HAVE_MPL = figure_backend() is not None
PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as fh:
        return fh.read(8) == PNG


def test_gradflow_command_writes_tables_and_figure(tmp_path, capsys):
    out = tmp_path / "gf"
    assert E.main_gradflow(["--T", "30", "--hidden", "8", "--batch", "4", "--train-steps", "0",
                            "--lyap-seqs", "2", "--out", str(out)]) == 0
    text = (out / "gradflow.md").read_text()
    for label in E.CELL_LABELS.values():
        assert label in text
    assert "20959.2" in text and "4.31712e-05" in text          # the toy on the engine
    assert "gradflow.md" in capsys.readouterr().out
    with open(out / "gradflow.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 * 30 and {r["cell"] for r in rows} == set(E.GRADFLOW_CELLS)
    if HAVE_MPL:
        assert _is_png(out / "gradflow.png")
    E.main_gradflow(["--T", "20", "--hidden", "4", "--batch", "2", "--train-steps", "0",
                     "--lyap-seqs", "0", "--no-plot", "--out", str(tmp_path / "np")])
    assert not (tmp_path / "np" / "gradflow.png").exists()


def test_gradflow_rates_order_the_cells():
    res = E.run_gradflow(T=60, hidden=16, batch=8, seed=0, train_steps=0, lyap_seqs=2)
    rate = {r["cell"]: r["rate"] for r in res["rows"]}
    lyap = {r["cell"]: r["lyapunov"] for r in res["rows"]}
    assert rate["srn"] < rate["lstm"] < 0 < rate["residual"] + 0.05
    assert rate["srn"] < -0.2                       # decades per 100 steps, not a few percent
    assert abs(rate["residual"]) < 0.1
    for cell in rate:                               # the QR exponent tracks the fitted rate
        assert lyap[cell] == pytest.approx(rate[cell], abs=0.1), cell
    lags, norms = res["curves"][("srn", "init")]
    assert len(lags) == 60 and norms[0] > 0


def test_lag_command_writes_tables_and_figures(tmp_path):
    out = tmp_path / "lag"
    assert E.main_lag(["--lags", "5,8", "--cells", "srn,lstm", "--seeds", "1", "--steps", "10",
                       "--hidden", "4", "--batch", "4", "--jobs", "1", "--explode-steps", "5",
                       "--explode-T", "10", "--out", str(out)]) == 0
    text = (out / "lag.md").read_text()
    assert "T=5" in text and "T=8" in text and "unclipped" in text and "LSTM" in text
    with open(out / "lag.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2 * 1 * 2                # lags x cells x seeds x clipping
    assert {r["clip"] for r in rows} == {"1.0", ""}
    if HAVE_MPL:
        assert _is_png(out / "lag.png") and _is_png(out / "explode.png")
    with pytest.raises(SystemExit):
        E.main_lag(["--cells", "elman", "--out", str(out)])


def test_lag_runs_are_the_same_with_two_jobs():
    kw = dict(lags=(6,), cells=("gru",), seeds=(0, 1), steps=8, clips=(1.0,), hidden=4, batch=4)
    one, two = E.run_lag(jobs=1, **kw), E.run_lag(jobs=2, **kw)
    assert [r["test_mse"] for r in one] == [r["test_mse"] for r in two]


def test_clipping_keeps_a_spectral_radius_above_one_srn_finite():
    res = E.run_explode(rho=1.5, T=50, steps=60, lr=0.1, seed=0)
    un, cl = res["unclipped"], res["clipped"]
    assert un["diverged"] and un["steps"] < 60             # loss or gradient became non-finite
    assert np.nanmax(un["grad_norms"]) > 1e6
    assert not cl["diverged"] and cl["steps"] == 60
    assert np.all(np.isfinite(cl["losses"])) and cl["losses"][-10:].mean() < 1.0
    assert res["lyapunov"] > 0                              # chaotic at init: gradients explode


def test_short_training_solves_a_short_lag():
    r = E.train_adding("gru", T=10, steps=400, seed=0, hidden=16)
    assert r["success"] and r["steps_to_success"] <= 400 and r["test_mse"] < 1 / 60


def test_forget_bias_is_the_package_rule():
    """fastrnn.init.lstm_forget_bias_: the b_ih forget block holds the bias, b_hh's is 0."""
    H = 4
    layer = E.make_cell("lstm", 2, H, seed=0, gate_bias=1.5)
    np.testing.assert_array_equal(layer.params["bias_ih_l0"][H:2 * H], 1.5)
    np.testing.assert_array_equal(layer.params["bias_hh_l0"][H:2 * H], 0.0)
    pytorch = E.make_cell("lstm", 2, H, seed=0, gate_bias=None)
    assert np.all(pytorch.params["bias_hh_l0"][H:2 * H] != 0)
    with pytest.raises(ValueError, match="rho"):
        E.make_cell("gru", 2, H, seed=0, rho=1.5)


@pytest.mark.parametrize("optimizer,clip_at", [("adam", 0.05), ("sgd", None)])
def test_training_steps_are_the_toolkits(optimizer, clip_at):
    """Two steps of train_adding are, bit for bit, fastrnn.optim's update after
    fastrnn.clip's global-norm clipping (or no clipping) on the same batches."""
    kw = dict(T=6, seed=3, hidden=4, batch=4)
    r = E.train_adding("gru", steps=2, optimizer=optimizer, clip=clip_at, lr=0.1,
                       stop_early=False, return_model=True, **kw)
    model = AddingModel(E.make_cell("gru", 2, 4, 3, dtype=np.float32), 1, 3)
    opt = (optim.Adam if optimizer == "adam" else optim.SGD)(model.params, model.grads, lr=0.1)
    stream = np.random.default_rng([3, 6, 1])
    norms = []
    for _ in range(2):
        task = tasks.adding_problem(4, 6, seed=stream, dtype=np.float32)
        model.loss_and_grads(task.x, task.y)
        norms.append(clip.grad_norm(model.grads) if clip_at is None
                     else clip.clip_grad_norm(model.grads, clip_at))
        opt.step()
    assert list(r["grad_norms"]) == norms
    if clip_at is not None:
        assert max(norms) > clip_at                      # the clipping did act
    for name, p in model.params.items():
        np.testing.assert_array_equal(r["model"].params[name], p, err_msg=name)


def test_subcommands_register_on_a_parser(tmp_path, capsys):
    """The lines that wire the commands into ``python -m fastrnn`` (and, once wired,
    the real command line)."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m fastrnn")
    sub = p.add_subparsers(dest="command")
    E.add_gradflow_arguments(sub.add_parser("gradflow", help=E.GRADFLOW_HELP,
                                            description=E.GRADFLOW_DESCRIPTION)
                             ).set_defaults(func=E.cmd_gradflow)
    E.add_lag_arguments(sub.add_parser("lag", help=E.LAG_HELP, description=E.LAG_DESCRIPTION)
                        ).set_defaults(func=E.cmd_lag)
    args = p.parse_args(["gradflow", "--T", "12", "--hidden", "4", "--batch", "2",
                         "--train-steps", "0", "--lyap-seqs", "0", "--no-plot",
                         "--out", str(tmp_path)])
    assert args.func(args) == 0 and (tmp_path / "gradflow.md").exists()
    args = p.parse_args(["lag", "--full", "--lags", "4"])
    assert args.func is E.cmd_lag and args.full and args.lags == "4"
    try:
        from fastrnn import __main__ as cli
        parser = cli.build_parser()
    except (ImportError, AttributeError):
        pytest.skip("no python -m fastrnn command line in this tree")
    choices = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "gradflow" not in choices:
        pytest.skip("gradflow is not wired into python -m fastrnn yet")
    assert cli.main(["gradflow", "--T", "12", "--hidden", "4", "--batch", "2", "--train-steps",
                     "0", "--lyap-seqs", "0", "--no-plot", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "gradflow.md").exists()
    assert "lag" in choices


def test_lag_report_names_the_largest_finite_gradient_norm():
    from fastrnn.lab.reporting import _largest_norm
    assert _largest_norm([1.0, 29.5, 3.0]) == "29.5"
    assert _largest_norm([1.0, 6.24e18, np.inf]) == "6.24e+18, then non-finite"
    assert _largest_norm([np.nan]) == "-, then non-finite"

"""fastrnn.train.distributed: one-process behaviour here, the MPI programs under mpiexec.

The multi-rank tests live in tests/mpi/ and run under ``mpiexec -n 2`` (and
-n 3, whose chunks do not divide the gradient buffers evenly) in a subprocess
with a timeout, so ``python -m pytest tests`` covers them wherever mpi4py and
an ``mpiexec`` are installed.
"""

import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import fastrnn
from fastrnn.train import distributed
from fastrnn.train.distributed import DataParallel, launched_by_mpiexec, shard_bounds

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


# --- no MPI needed ------------------------------------------------------------------------

def test_shard_bounds_partition_in_rank_order():
    for n in range(0, 13):
        for size in range(1, 6):
            blocks = [shard_bounds(n, r, size) for r in range(size)]
            assert blocks[0][0] == 0 and blocks[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
            lengths = [b - a for a, b in blocks]
            assert max(lengths) - min(lengths) <= 1
            assert lengths == sorted(lengths, reverse=True)


@pytest.mark.parametrize("args, error", [((5, 2, 2), ValueError), ((5, -1, 2), ValueError),
                                         ((5, 0, 0), ValueError), ((-1, 0, 1), ValueError),
                                         ((5.0, 0, 1), TypeError), ((5, True, 2), TypeError)])
def test_shard_bounds_rejects_bad_arguments(args, error):
    with pytest.raises(error):
        shard_bounds(*args)


def test_launcher_detection_reads_the_environment_only():
    assert launched_by_mpiexec({}) == 0
    assert launched_by_mpiexec({"PMI_SIZE": "2"}) == 2
    assert launched_by_mpiexec({"OMPI_COMM_WORLD_SIZE": "3"}) == 3
    assert launched_by_mpiexec({"PMI_SIZE": "x"}) == 0


def test_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"fastrnn\[mpi\]"):
        distributed.require_mpi()


# --- one rank (COMM_SELF): works without mpiexec ----------------------------------------------

@pytest.fixture
def comm_self():
    return pytest.importorskip("mpi4py.MPI").COMM_SELF


def test_one_rank_leaves_everything_unchanged(comm_self):
    model = fastrnn.SequenceClassifier(fastrnn.GRU(3, 4, seed=0), num_classes=2, seed=1)
    opt = fastrnn.optim.Adam(model, lr=1e-2)
    rng = np.random.default_rng(0)
    for m in (model.rnn, model.head):
        m.grads_flat[...] = rng.standard_normal(m.grads_flat.size)
    before = {k: v.copy() for k, v in model.params.items()}
    grads = {k: v.copy() for k, v in model.grads.items()}
    dp = DataParallel(model, comm=comm_self, optimizer=opt)
    assert (dp.rank, dp.size, dp.local_size, dp.num_threads, dp.is_root) == (0, 1, 1, None, True)
    dp.allreduce_grads()
    dp.allreduce_grads(count=7)
    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k])
        np.testing.assert_array_equal(model.grads[k], grads[k])
    x = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(dp.shard(x, axis=1), x)
    np.testing.assert_array_equal(dp.shard_indices(5), np.arange(5))
    np.testing.assert_array_equal(np.sort(dp.shard_indices(5, seed=1)), np.arange(5))
    assert dp.broadcast("x") == "x" and dp.gather(3) == [3]
    assert "size=1" in repr(dp)


def test_one_rank_training_equals_plain_training(comm_self):
    def run(dp_comm):
        model = fastrnn.LSTM(2, 3, dtype=np.float64, seed=0)
        opt = fastrnn.optim.SGD(model, lr=0.1, momentum=0.9)
        dp = DataParallel(model, comm=dp_comm) if dp_comm is not None else None
        x = np.random.default_rng(1).standard_normal((4, 5, 2))
        for _ in range(3):
            model.zero_grad()
            y, _ = model.forward(x)
            model.backward(y, None)
            if dp is not None:
                dp.allreduce_grads()
            opt.step()
        return model.params_flat.copy()

    assert run(comm_self).tobytes() == run(None).tobytes()


def test_save_and_print_on_the_root(comm_self, tmp_path, capsys):
    model = fastrnn.Linear(2, 3, seed=0)
    dp = DataParallel(model, comm=comm_self)
    path = str(tmp_path / "m.npz")
    assert dp.save(model, path, meta={"a": 1}) == path
    np.testing.assert_array_equal(fastrnn.load(path).params_flat, model.params_flat)
    dp.print("hello")
    assert capsys.readouterr().out == "hello\n"
    with pytest.raises(FileNotFoundError):
        dp.save(model, str(tmp_path / "missing" / "m.npz"))
    bar = dp.progress(total=2, disable=True)
    bar.update(1)
    bar.close()


@pytest.mark.parametrize("count, error", [(-1, ValueError), (float("nan"), ValueError),
                                          (0, ValueError), ("3", TypeError), (True, TypeError)])
def test_bad_count_raises(comm_self, count, error):
    model = fastrnn.Linear(2, 3, seed=0)
    model.grads_flat[...] = 1.0
    dp = DataParallel(model, comm=comm_self)
    with pytest.raises(error, match="count"):
        dp.allreduce_grads(count=count)
    np.testing.assert_array_equal(model.grads_flat, 1.0)


def test_bad_arguments_raise(comm_self):
    with pytest.raises(TypeError, match="model"):
        DataParallel(object(), comm=comm_self)
    with pytest.raises(TypeError, match="comm"):
        DataParallel(fastrnn.Linear(2, 2), comm="world")
    with pytest.raises(ValueError, match="num_threads"):
        DataParallel(fastrnn.Linear(2, 2), comm=comm_self, num_threads="many")
    with pytest.raises(ValueError, match="num_threads"):
        DataParallel(fastrnn.Linear(2, 2), comm=comm_self, num_threads=0)
    with pytest.raises(TypeError, match="optimizer"):
        DataParallel(fastrnn.Linear(2, 2), comm=comm_self, optimizer=object())
    with pytest.raises(TypeError, match="abort_on_error"):
        DataParallel(fastrnn.Linear(2, 2), comm=comm_self, abort_on_error="yes")
    dp = DataParallel(fastrnn.Linear(2, 2), comm=comm_self)
    with pytest.raises(ValueError, match="axis"):
        dp.shard(np.zeros((2, 3)), axis=2)


def test_explicit_threads_limit_blas(comm_self):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    dp = DataParallel(fastrnn.Linear(2, 2), comm=comm_self, num_threads=1)
    try:
        assert dp.num_threads == 1
        assert all(p["num_threads"] == 1 for p in threadpoolctl.threadpool_info()
                   if p["user_api"] == "blas")
    finally:
        dp._thread_limiter.restore_original_limits()


def test_a_shared_module_is_communicated_once(comm_self):
    emb = fastrnn.Embedding(4, 3, seed=0)

    class Tied(fastrnn.Model):
        def __init__(self):
            super().__init__()
            self.a = emb
            self.b = fastrnn.Sequential(emb)

    params, grads = distributed.reduce.model_arrays(Tied())
    assert len(params) == 1 and grads[0] is emb.grads_flat
    assert np.shares_memory(params[0], emb.params_flat)


# --- the MPI programs, under mpiexec ----------------------------------------------------------

def _mpiexec():
    pytest.importorskip("mpi4py")
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    path = local if os.path.exists(local) else shutil.which("mpiexec")
    if path is None:
        pytest.skip("no mpiexec on PATH (pip install '.[mpi]' brings one)")
    return path


def _launch(args, timeout):
    """Run ``mpiexec args`` in its own process group; kill the group if it outlives timeout."""
    env = dict(os.environ)
    # the ranks import the fastrnn this test imported (the source tree or the installed one)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
    env["PYTHONPATH"] = package_root + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("HYDRA_LAUNCHER", "fork")       # MPICH: local processes, no ssh
    proc = subprocess.Popen([_mpiexec()] + args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)       # mpiexec cleans up its ranks on SIGTERM
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"mpiexec {' '.join(args)} still running after {timeout} s (a hang)\n"
                    f"{out[-3000:]}\n{err[-3000:]}")
    return proc.returncode, out, err


@pytest.mark.parametrize("ranks", [2, 3])
def test_mpi_programs_pass_under_mpiexec(ranks):
    code, out, err = _launch(["-n", str(ranks), sys.executable, "-m", "pytest", "tests/mpi",
                              "-q", "-p", "no:cacheprovider"], timeout=300)
    assert code == 0, f"exit {code}\n{out[-4000:]}\n{err[-4000:]}"
    assert out.count(" passed") == ranks, out[-2000:]


@pytest.mark.parametrize("runner", [["tests/mpi/raise_in_step.py"],
                                    ["-m", "mpi4py", "tests/mpi/raise_in_step.py",
                                     "--no-abort-hook"]],
                         ids=["abort-hook", "python-m-mpi4py"])
def test_a_raising_rank_stops_every_rank(runner):
    code, out, err = _launch(["-n", "2", sys.executable] + runner, timeout=60)
    assert code != 0
    assert "RuntimeError: rank 1 fails on purpose" in err
    assert "finished" not in out


DEMO = ["demo", "--steps", "12", "--hidden", "16", "--embed", "8", "--batch", "6", "--seq-len",
        "8", "--sample-length", "20", "--dtype", "float64", "--no-progress"]


def test_demo_data_parallel_equals_the_single_process_demo(tmp_path):
    from fastrnn import __main__ as cli
    single = tmp_path / "single.npz"
    assert cli.main(DEMO + ["--save", str(single)]) == 0
    path = tmp_path / "dp.npz"
    code, out, err = _launch(["-n", "2", sys.executable, "-m", "fastrnn"] + DEMO
                             + ["--save", str(path)], timeout=300)
    assert code == 0, f"{out[-3000:]}\n{err[-3000:]}"
    assert "data-parallel over MPI: 2 ranks x 3 streams" in out
    assert "rank 0: " in out and "rank 1: " in out and "all 2 ranks: " in out
    assert out.count("sample (temperature") == 1        # rank 0 alone prints and samples
    a, b = fastrnn.load(str(single)), fastrnn.load(str(path))
    for k, p in a.params.items():
        np.testing.assert_allclose(b.params[k], p, rtol=1e-10, atol=1e-12, err_msg=k)


def test_demo_distributed_without_mpi4py_names_the_extra(monkeypatch, capsys):
    from fastrnn import __main__ as cli
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    assert cli.main(DEMO + ["--distributed"]) == 2
    assert "fastrnn[mpi]" in capsys.readouterr().err

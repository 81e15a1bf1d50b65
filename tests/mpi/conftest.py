"""The MPI tests: collected only when an MPI launcher started this pytest (mpiexec -n K).

``tests/test_distributed.py`` runs ``mpiexec -n 2 python -m pytest tests/mpi``
(so does ``.ci/mpi``); a plain ``python -m pytest tests`` skips this directory.
Every rank runs every test in the same order, so the collectives match. A
test that fails on one rank would leave the others waiting in a collective:
the report hook below prints the failure, then aborts every rank.
"""

import sys

from fastrnn.train.distributed import launched_by_mpiexec

if launched_by_mpiexec() == 0:
    collect_ignore_glob = ["*.py"]


def pytest_runtest_logreport(report):
    if report.failed and launched_by_mpiexec() > 1:
        from mpi4py import MPI
        rank = MPI.COMM_WORLD.Get_rank()
        sys.stderr.write(f"\n[rank {rank}] {report.nodeid} FAILED:\n{report.longreprtext}\n"
                         f"[rank {rank}] aborting every rank\n")
        sys.stderr.flush()
        MPI.COMM_WORLD.Abort(1)

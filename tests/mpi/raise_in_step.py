"""A training script whose last rank raises mid-training while the others wait in a collective.

    mpiexec -n 2 python tests/mpi/raise_in_step.py                         # DataParallel's hook
    mpiexec -n 2 python -m mpi4py tests/mpi/raise_in_step.py --no-abort-hook  # mpi4py's runner

Either way every rank must exit promptly with a non-zero status (the ranks
that did not raise are aborted); with neither, rank 0 would wait forever in
``allreduce_grads``. ``tests/test_distributed.py`` runs both with a timeout.
"""

import sys

import numpy as np

import fastrnn
from fastrnn.train.distributed import DataParallel

model = fastrnn.LSTM(3, 4, dtype=np.float64, seed=0)
opt = fastrnn.optim.SGD(model, lr=0.1)
dp = DataParallel(model, optimizer=opt, abort_on_error="--no-abort-hook" not in sys.argv)
x = np.random.default_rng(0).standard_normal((5, 2 * dp.size, 3))
for step in range(3):
    model.zero_grad()
    y, _ = model.forward(dp.shard(x, axis=1))
    model.backward(np.ones_like(y), None)
    if step == 1 and dp.rank == dp.size - 1:
        raise RuntimeError(f"rank {dp.rank} fails on purpose at step {step}")
    dp.allreduce_grads()
    opt.step()
print(f"rank {dp.rank}: finished", flush=True)

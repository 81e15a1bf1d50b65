"""Data-parallel training over MPI (mpi4py): every rank trains a replica on its shard.

Each of ``size`` processes (ranks) holds the same model, computes the
gradient of its own shard of the batch, and
:meth:`DataParallel.allreduce_grads` replaces every rank's gradients by their
average, so the optimizer steps that follow are identical everywhere and the
replicas stay bit-identical::

    # mpiexec -n 2 python train.py
    from fastrnn.distributed import DataParallel

    model = fastrnn.SequenceClassifier(fastrnn.LSTM(8, 64), num_classes=3)
    opt = fastrnn.optim.Adam(model, lr=1e-3)
    dp = DataParallel(model, optimizer=opt)        # rank 0's weights and state everywhere
    for x, y in batches:                           # the same global batches on every rank
        xs, ys = dp.shard(x, axis=1), dp.shard(y, axis=0)
        loss, dlogits = fastrnn.softmax_cross_entropy(model.forward(xs), ys)
        model.zero_grad(); model.backward(dlogits)
        dp.allreduce_grads()                       # the gradient of the global mean loss
        fastrnn.clip_grad_norm(model.grads, 1.0); opt.step()
    dp.save(model, "model.npz")                    # written by rank 0 only

Modules: ``runtime`` (importing MPI, the launcher's environment, aborting on
an uncaught exception, threads per rank), ``sharding`` (which items a rank
owns), ``reduce`` (the fixed-order gradient average), ``data_parallel`` (the
``DataParallel`` class). mpi4py is imported only when a communicator is needed:
``pip install "fastrnn[mpi]"`` brings it and an MPI runtime with ``mpiexec``.
"""

from .data_parallel import DataParallel
from .runtime import launched_by_mpiexec, require_mpi
from .sharding import shard_bounds

__all__ = ["DataParallel", "shard_bounds", "launched_by_mpiexec", "require_mpi"]

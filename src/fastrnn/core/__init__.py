"""The engine core: what computes a recurrence and its exact gradients.

Read bottom-up: ``validation`` (argument checks) and ``cells`` (the cell
math of one step) -> ``reference`` (the NumPy engine, the oracle) and
``c_engine`` over the compiled ``_ext`` (the C engine; ``threads``: its
thread count) -> ``backend`` (which engine runs) -> ``functional`` (one
layer, one direction, cache explicit) -> ``storage`` and ``module`` (flat
parameter buffers with named views) -> ``layers`` (``SRN``, ``LSTM``,
``GRU``).
"""

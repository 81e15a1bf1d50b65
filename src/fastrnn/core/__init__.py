"""The engine core: what computes a recurrence and its exact gradients.

Read bottom-up: ``validation`` (argument checks) -> ``reference`` (the NumPy
engine, the oracle) and ``c_engine`` over the compiled ``_ext`` (the C engine)
-> ``backend`` (which engine runs) -> ``functional`` (one layer, one direction,
cache explicit) -> ``module`` (flat parameter buffers with named views) ->
``layers`` (``SRN``, ``LSTM``, ``GRU``).
"""

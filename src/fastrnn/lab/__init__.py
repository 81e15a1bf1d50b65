"""The long-term-dependency lab.

``diagnostics`` (gradient flow, step Jacobians, Lyapunov exponents, first
non-finite value, gate health), ``tasks`` (long-lag tasks), ``rtrl``
(real-time recurrent learning), ``experiments`` (the ``gradflow`` and ``lag``
commands, their tables and figures).
"""

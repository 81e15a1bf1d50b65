"""Seeing the long-term-dependency problem: gradient flow, Jacobians, non-finite values, gates.

In BPTT the error reaching an earlier state obeys (the seeds' notation, with
``U = W_hh``)::

    delta_{t,k} = diag(f'(z_k)) U^T delta_{t,k+1} = prod_{i=k}^{t-1} (diag(f'(z_i)) U^T) delta_{t,t}

so ``||delta_{t,k}||`` behaves like ``gamma^(t-k)``: it explodes for gamma > 1 and
vanishes for gamma < 1. This module measures every piece of that statement.

Gradient flow (from the engine's own backward, no separate slow path):

* :func:`gradient_flow` runs a layer forward and backward with a loss placed at
  chosen steps and returns a :class:`GradientFlow`: ``dL/dh_k`` (and for the
  LSTM ``dL/dc_k``) for every step k, layer and direction. The values are the
  ``trace`` the engine fills inside its backward loop (``state_grads=True`` of
  ``fastrnn.functional``), so they cost one extra (T, N, H) store per step.
* :func:`backward_with_flow` is ``layer.backward`` that also returns the flow,
  for a training loop that wants it on every step at no extra backward.
* :func:`loss_at_steps` builds the ``dy`` of a loss placed at chosen steps;
  :func:`fit_decay` fits ``log ||dL/dh_k|| = a + rate * lag``.

Jacobians along a trajectory (recomputed step by step in NumPy with the
cell math of ``fastrnn.core.cells``; a diagnostic, not a hot path):

* :func:`step_jacobians` / :func:`cell_jacobians`: ``J_k = ds_k / ds_{k-1}`` for
  every step, where the state ``s`` is ``h`` (SRN, GRU) or ``[h; c]`` (LSTM).
  For the SRN ``J_k = diag(f'(z_k)) W_hh`` (``+ I`` for the residual cell); the
  backward multiplies by ``J_k^T``, the textbook's ``diag(f'(z_k)) U^T``.
* :func:`jacobian_norms`, :func:`cumulative_jacobian_norms` (the norm of the
  product against lag, in logs so it never overflows), :func:`spectral_radius`,
  :func:`lyapunov_exponents` (finite-time exponents by the QR method).

Failures and gates:

* :func:`first_nonfinite` names the first step, layer, direction and gate where
  a forward (or, given ``dy``, a backward) produced NaN or inf.
* :func:`gate_health`: saturation fraction of each gate and the forget-gate mean.

The pieces live in one module per job, and this module re-exports their
public names: ``fastrnn.lab.flow`` (gradient flow, decay fits),
``fastrnn.lab.jacobians`` (step Jacobians, norms, spectral radius, Lyapunov
exponents), ``fastrnn.lab.nonfinite``, ``fastrnn.lab.gates``, over
``fastrnn.lab.walk`` (the NumPy re-run of a layer's cells, with the cell math
of ``fastrnn.core.cells``).

Conventions: time-major internally; a bidirectional layer's parts are indexed
``k = layer * num_directions + direction`` as in the layers; "lag" is counted
in the direction of processing (``t - k`` forward, ``k - t`` for the reverse
direction).
"""

from ..core.cells import GATE_NAMES
from .flow import GradientFlow, backward_with_flow, fit_decay, gradient_flow, loss_at_steps
from .gates import gate_health
from .jacobians import (cell_jacobians, cumulative_jacobian_norms, jacobian_norms,
                        lyapunov_exponents, spectral_radius, step_jacobians)
from .nonfinite import NonFinite, first_nonfinite

__all__ = [
    "GradientFlow", "gradient_flow", "backward_with_flow", "loss_at_steps", "fit_decay",
    "cell_jacobians", "step_jacobians", "jacobian_norms", "cumulative_jacobian_norms",
    "spectral_radius", "lyapunov_exponents", "NonFinite", "first_nonfinite", "gate_health",
    "GATE_NAMES",
]

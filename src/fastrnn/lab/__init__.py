"""The long-term-dependency lab.

Read bottom-up (the cell math is ``fastrnn.core.cells``):

* ``walk``: a layer's structure and a NumPy re-run of its cells recording every step;
* ``flow`` (gradient flow from the engine's backward, decay fits), ``jacobians``
  (step Jacobians, norms, spectral radius, Lyapunov exponents), ``nonfinite``
  (the first NaN/inf), ``gates`` (gate health); ``diagnostics`` re-exports them all;
* ``tasks`` (long-lag tasks), ``rtrl`` (real-time recurrent learning);
* ``training`` (a cell with a readout trained on the adding problem with the
  package's optimizers, clipping and initializers), ``reporting`` (tables, CSV,
  figures), ``experiments`` (the ``gradflow`` and ``lag`` commands).
"""

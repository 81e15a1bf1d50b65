"""Models: a container and the three sequence-model patterns (``fastrnn.models``).

This module gathers them (and ``io`` imports it so that every model class is
registered for ``load``); they are defined in ``containers`` (``Model``,
``Sequential``), ``patterns`` (``SequenceClassifier``, ``SequenceTagger``,
``length_mask``) and ``seq2seq`` (``Seq2Seq``).

* ``Model``: the container base. Modules assigned as attributes (anything
  with ``params``/``grads`` mappings and ``zero_grad``: layers, ``Linear``,
  ``Embedding``, other models) are registered in order; ``params`` and
  ``grads`` aggregate theirs under prefixed names (``"rnn.weight_ih_l0"``),
  live views, so one optimizer and one ``clip_grad_norm`` see the whole model.
* ``Sequential(*modules)``: runs modules in a chain; names ``"0.weight"``, ...
* ``SequenceClassifier``: sequence -> one class, from the last state or the
  mean of all outputs.
* ``SequenceTagger``: synchronous sequence -> sequence, one class per step.
* ``Seq2Seq``: asynchronous encoder-decoder with teacher forcing for
  training and greedy decoding to an end token for inference.

The patterns take an already built recurrent layer (any cell: ``SRN``,
``LSTM``, ``GRU``, any ``num_layers``; ``bidirectional`` where it makes
sense) and follow its layout: time-major (T, N, ...) unless it was built with
``batch_first=True``. All take ``lengths`` (N,) for padded batches. Their
``forward`` returns logits; their ``backward(dlogits)`` ADDS every parameter
gradient into ``grads`` (until ``zero_grad()``) and returns the input
gradient (None when the input is token ids). ``backward`` differentiates the
latest ``forward(..., train=True)``.

A training step::

    logits = model.forward(x, lengths=lengths)
    loss, dlogits = fastrnn.softmax_cross_entropy(logits, y)
    model.zero_grad(); model.backward(dlogits)
    fastrnn.clip_grad_norm(model.grads, 1.0); opt.step()
"""

from .containers import Model, Sequential
from .patterns import SequenceClassifier, SequenceTagger, length_mask
from .seq2seq import Seq2Seq

__all__ = ["Model", "Sequential", "SequenceClassifier", "SequenceTagger", "Seq2Seq",
           "length_mask"]

"""The sequence-model patterns over one recurrent layer: classifier and tagger.

* ``SequenceClassifier``: sequence -> one class, from the last state or the
  mean of all outputs.
* ``SequenceTagger``: synchronous sequence -> sequence, one class per step.
* ``length_mask``: the (T, N) mask of the steps in use, for their losses.

Both take an already built recurrent layer and a ``Linear`` head (``head``)
over its outputs; ``_Pattern`` is their shared base (and ``Seq2Seq``'s, in
``fastrnn.train.seq2seq``). Users reach them as ``fastrnn.<name>`` and in
``fastrnn.models``, whose module doc describes the conventions.
"""

import numpy as np

from ..core import validation as V
from .containers import Model, _is_module, _is_recurrent
from .nn import Embedding, Linear
from .registry import build, describe, register

__all__ = ["SequenceClassifier", "SequenceTagger", "length_mask"]


def _check_rnn(name, rnn):
    if not (_is_module(rnn) and _is_recurrent(rnn) and hasattr(rnn, "hidden_size")):
        raise TypeError(f"{name}: expected a recurrent layer (fastrnn.SRN, LSTM or GRU), "
                        f"got {type(rnn).__name__}")
    return rnn


def length_mask(lengths, T, batch_first=False):
    """The steps in use: True where ``t < lengths[n]``.

    For masking a tagger's or a decoder's loss over a padded batch
    (``softmax_cross_entropy(logits, y, mask=length_mask(lengths, T))``).

    Parameters
    ----------
    lengths : array-like of int, shape (N,)
    T : int
        The number of steps.
    batch_first : bool, default False
        Return (N, T) instead of (T, N).

    Returns
    -------
    numpy.ndarray of bool, shape (T, N) or (N, T)

    Raises
    ------
    TypeError
        For lengths that are not a 1-d integer array.

    Examples
    --------
    >>> length_mask([2, 3], 3).astype(int).tolist()
    [[1, 1], [1, 1], [0, 1]]
    """
    lengths = np.asarray(lengths)
    if lengths.dtype.kind not in "iu" or lengths.ndim != 1:
        raise TypeError(f"lengths: expected a 1-d integer array, got dtype {lengths.dtype} "
                        f"and shape {V.fmt_shape(lengths.shape)}")
    mask = V.active_mask(lengths, T)
    return mask.T.copy() if batch_first else mask



class _Pattern(Model):
    """Shared parts of the three patterns: an optional embedding, the RNN, a Linear head."""

    def _setup(self, rnn, embedding, name="rnn"):
        _check_rnn(name, rnn)
        if embedding is not None:
            if not isinstance(embedding, Embedding):
                raise TypeError(f"embedding: expected a fastrnn.Embedding or None, "
                                f"got {type(embedding).__name__}")
            if embedding.embedding_dim != rnn.input_size:
                raise ValueError(f"embedding: expected embedding_dim = {name}.input_size = "
                                 f"{rnn.input_size}, got {embedding.embedding_dim}")
            if embedding.dtype != rnn.dtype:
                raise TypeError(f"embedding: expected dtype {rnn.dtype} (the {name}'s), "
                                f"got {embedding.dtype}")

    def _attach_head(self, rnn, num_classes, embedding, seed):
        """Register embedding (if any), rnn and a Linear head over the rnn's outputs, in that order."""
        self.num_classes = V.check_positive_int("num_classes", num_classes)
        if embedding is not None:
            self.embedding = embedding
        self.rnn = rnn
        self.head = Linear(rnn.num_directions * rnn.hidden_size, self.num_classes,
                           dtype=rnn.dtype, seed=seed)

    def _embed(self, embedding, x, train):
        return x if embedding is None else embedding.forward(x, train=train)

    @staticmethod
    def _time_axis(rnn):
        return 1 if rnn.batch_first else 0

    def predict(self, *args, **kwargs):
        """The most likely class: the argmax of ``forward(..., train=False)``.

        Parameters
        ----------
        *args, **kwargs
            As ``forward`` (``train`` is set to False).

        Returns
        -------
        numpy.ndarray of int
            The logits' shape without the class axis.
        """
        kwargs["train"] = False
        return np.argmax(self.forward(*args, **kwargs), axis=-1)


@register
class SequenceClassifier(_Pattern):
    """Sequence to one class: ``Linear(features)`` with features from the RNN.

    ``pool="last"``: the final hidden state of the top layer (both directions
    concatenated when bidirectional: the forward direction's state at each
    sequence's last step and the reverse direction's at step 0), as PyTorch's
    ``h_n[-D:]``. ``pool="mean"``: the mean of the top layer's outputs over
    each sequence's ``lengths[n]`` steps. Parameters: ``"embedding.weight"``
    (if any), ``"rnn.<name>"``, ``"head.weight"``, ``"head.bias"``.

    Parameters
    ----------
    rnn : SRN, LSTM or GRU
        Any number of layers, either direction, either layout.
    num_classes : int
        C, the number of classes (>= 1).
    pool : {"last", "mean"}, default "last"
    embedding : Embedding, optional
        For token-id inputs; ``embedding_dim`` must be ``rnn.input_size`` and
        its dtype the rnn's.
    seed : None, int or numpy.random.Generator, optional
        The head's initialization seed.

    Raises
    ------
    TypeError
        For an ``rnn`` that is not a recurrent layer, an ``embedding`` that is
        not an ``Embedding`` or of another dtype, a non-int ``num_classes``.
    ValueError
        For another ``pool``, ``num_classes < 1``, or an embedding of another
        size.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> model = fastrnn.SequenceClassifier(fastrnn.LSTM(4, 8, bidirectional=True, seed=0),
    ...                                    num_classes=3, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((6, 5, 4)).astype(np.float32)
    >>> logits = model.forward(x, lengths=[6, 2, 3, 6, 1])    # (N, num_classes)
    >>> loss, dlogits = fastrnn.softmax_cross_entropy(logits, np.array([0, 1, 2, 0, 1]))
    >>> model.zero_grad()
    >>> dx = model.backward(dlogits)                           # BPTT into model.grads
    >>> logits.shape, dx.shape, model.predict(x).shape
    ((5, 3), (6, 5, 4), (5,))
    """

    def __init__(self, rnn, num_classes, pool="last", embedding=None, seed=None):
        super().__init__()
        self._setup(rnn, embedding)
        if pool not in ("last", "mean"):
            raise ValueError(f"pool: expected 'last' or 'mean', got {pool!r}")
        self.pool = pool
        self._attach_head(rnn, num_classes, embedding, seed)
        self._cache = None

    def forward(self, x, lengths=None, state=None, train=True):
        """Logits for the sequences in ``x``.

        Parameters
        ----------
        x : array-like
            (T, N, input_size) floats, or (T, N) token ids with ``embedding``;
            (N, T, ...) when the RNN is ``batch_first``.
        lengths : array-like of int, shape (N,), optional
            Sequence n uses steps ``[0, lengths[n])`` (1 <= lengths[n] <= T).
        state : optional
            The RNN's initial state, as ``rnn.forward`` takes it (None: zeros).
        train : bool, default True
            Keep what ``backward`` needs.

        Returns
        -------
        numpy.ndarray, shape (N, num_classes)

        Raises
        ------
        TypeError, ValueError
            As ``rnn.forward`` (and ``embedding.forward``) for a bad input.
        """
        emb = getattr(self, "embedding", None)
        rnn = self.rnn
        y, final = rnn.forward(self._embed(emb, x, train), state=state, lengths=lengths,
                               train=train)
        D = rnn.num_directions
        ta = self._time_axis(rnn)
        T, N = y.shape[ta], y.shape[1 - ta]
        if self.pool == "last":
            h = final[0] if isinstance(final, tuple) else final
            feat = np.concatenate(list(h[-D:]), axis=1)                     # (N, D*H)
            count = None
        else:
            count = np.full(N, T, dtype=np.int64) if lengths is None else np.asarray(lengths)
            feat = y.sum(axis=ta) / count[:, None].astype(y.dtype)         # outputs past end are 0
        if train:  # inference leaves the latest training forward's cache alone
            self._cache = (T, N, count, final)
        return self.head.forward(feat, train=train)

    def backward(self, dlogits):
        """Differentiate the latest ``forward(..., train=True)``, adding into ``grads``.

        Parameters
        ----------
        dlogits : numpy.ndarray, shape (N, num_classes)
            The gradient of the loss with respect to the logits.

        Returns
        -------
        numpy.ndarray or None
            dx, the shape of ``x`` (None with an ``embedding``).

        Raises
        ------
        RuntimeError
            Without a ``forward(..., train=True)`` before.
        ValueError
            For ``dlogits`` of another shape.
        """
        if self._cache is None:
            raise V.no_cache_error("SequenceClassifier")
        T, N, count, final = self._cache
        rnn, D, H = self.rnn, self.rnn.num_directions, self.rnn.hidden_size
        dfeat = self.head.backward(dlogits)                                # (N, D*H)
        if self.pool == "last":
            h = final[0] if isinstance(final, tuple) else final
            dh = np.zeros_like(h)
            dh[-D:] = dfeat.reshape(N, D, H).transpose(1, 0, 2)
            dstate = (dh, np.zeros_like(dh)) if isinstance(final, tuple) else dh
            dx, _ = rnn.backward(None, dstate)
        else:
            steps = length_mask(count, T)                                  # (T, N)
            dy = steps[:, :, None] * (dfeat / count[:, None].astype(dfeat.dtype))[None]
            if rnn.batch_first:
                dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
            dx, _ = rnn.backward(dy.astype(rnn.dtype, copy=False), None)
        emb = getattr(self, "embedding", None)
        return dx if emb is None else emb.backward(dx)

    def get_config(self):
        """What ``from_config`` needs, for ``fastrnn.save``.

        Returns
        -------
        dict
            ``rnn``, ``num_classes``, ``pool``, ``embedding`` (descriptions).
        """
        emb = getattr(self, "embedding", None)
        return {"rnn": describe(self.rnn), "num_classes": self.num_classes, "pool": self.pool,
                "embedding": None if emb is None else describe(emb)}

    @classmethod
    def from_config(cls, config):
        """A new model (fresh parameters) from ``get_config()``'s result.

        Parameters
        ----------
        config : dict

        Returns
        -------
        SequenceClassifier
        """
        emb = config.get("embedding")
        return cls(build(config["rnn"]), config["num_classes"], pool=config["pool"],
                   embedding=None if emb is None else build(emb))


@register
class SequenceTagger(_Pattern):
    """Synchronous sequence to sequence: a class per step, ``Linear(y_t)``.

    The steps past each sequence's end hold the head's bias only: mask them in
    the loss with ``length_mask(lengths, T, batch_first)``. Parameters:
    ``"embedding.weight"`` (if any), ``"rnn.<name>"``, ``"head.weight"``,
    ``"head.bias"``.

    Parameters
    ----------
    rnn : SRN, LSTM or GRU
        Any number of layers, either direction, either layout.
    num_classes : int
        C, the number of classes per step (>= 1).
    embedding : Embedding, optional
        For token-id inputs; ``embedding_dim`` must be ``rnn.input_size``.
    seed : None, int or numpy.random.Generator, optional
        The head's initialization seed.

    Raises
    ------
    TypeError, ValueError
        As ``SequenceClassifier``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> tagger = fastrnn.SequenceTagger(fastrnn.GRU(5, 8, seed=0), num_classes=4,
    ...                                 embedding=fastrnn.Embedding(20, 5, seed=0), seed=0)
    >>> ids = np.arange(12).reshape(4, 3)                      # (T, N) token ids
    >>> lengths = np.array([4, 2, 3])
    >>> logits = tagger.forward(ids, lengths=lengths)          # (T, N, num_classes)
    >>> mask = fastrnn.length_mask(lengths, 4)
    >>> loss, dlogits = fastrnn.softmax_cross_entropy(logits, ids % 4, mask=mask)
    >>> logits.shape, tagger.backward(dlogits) is None         # no gradient for ids
    ((4, 3, 4), True)
    """

    def __init__(self, rnn, num_classes, embedding=None, seed=None):
        super().__init__()
        self._setup(rnn, embedding)
        self._attach_head(rnn, num_classes, embedding, seed)

    def forward(self, x, lengths=None, state=None, train=True):
        """Logits for every step of the sequences in ``x``.

        Parameters
        ----------
        x : array-like
            (T, N, input_size) floats, or (T, N) token ids with ``embedding``;
            (N, T, ...) when the RNN is ``batch_first``.
        lengths : array-like of int, shape (N,), optional
            Sequence n uses steps ``[0, lengths[n])``.
        state : optional
            The RNN's initial state, as ``rnn.forward`` takes it (None: zeros).
        train : bool, default True
            Keep what ``backward`` needs.

        Returns
        -------
        numpy.ndarray, shape (T, N, num_classes)
            (N, T, num_classes) with ``batch_first``.

        Raises
        ------
        TypeError, ValueError
            As ``rnn.forward`` (and ``embedding.forward``) for a bad input.
        """
        emb = getattr(self, "embedding", None)
        y, _ = self.rnn.forward(self._embed(emb, x, train), state=state, lengths=lengths,
                                train=train)
        return self.head.forward(y, train=train)

    def backward(self, dlogits):
        """Differentiate the latest ``forward(..., train=True)``, adding into ``grads``.

        Parameters
        ----------
        dlogits : numpy.ndarray, shape (T, N, num_classes)
            ((N, T, num_classes) with ``batch_first``.)

        Returns
        -------
        numpy.ndarray or None
            dx, the shape of ``x`` (None with an ``embedding``).

        Raises
        ------
        RuntimeError
            Without a ``forward(..., train=True)`` before.
        ValueError
            For ``dlogits`` of another shape.
        """
        dy = self.head.backward(dlogits)
        dx, _ = self.rnn.backward(dy, None)
        emb = getattr(self, "embedding", None)
        return dx if emb is None else emb.backward(dx)

    def get_config(self):
        """What ``from_config`` needs, for ``fastrnn.save``.

        Returns
        -------
        dict
            ``rnn``, ``num_classes``, ``embedding`` (descriptions).
        """
        emb = getattr(self, "embedding", None)
        return {"rnn": describe(self.rnn), "num_classes": self.num_classes,
                "embedding": None if emb is None else describe(emb)}

    @classmethod
    def from_config(cls, config):
        """A new model (fresh parameters) from ``get_config()``'s result.

        Parameters
        ----------
        config : dict

        Returns
        -------
        SequenceTagger
        """
        emb = config.get("embedding")
        return cls(build(config["rnn"]), config["num_classes"],
                   embedding=None if emb is None else build(emb))

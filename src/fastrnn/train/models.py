"""Models: a container and the three sequence-model patterns.

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

import numpy as np

from ..core import validation as V
from ..core.module import check_seed
from .containers import Model, Sequential, _is_module, _is_recurrent
from .nn import Embedding, Linear
from .registry import build, describe, register

__all__ = ["Model", "Sequential", "SequenceClassifier", "SequenceTagger", "Seq2Seq",
           "length_mask"]


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
        self._cache = (T, N, count, final) if train else None
        return self.head.forward(feat, train=train)

    def backward(self, dlogits):
        """Differentiate the latest ``forward(..., train=True)``; parameter gradients are added into ``grads``.

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
        """Differentiate the latest ``forward(..., train=True)``; parameter gradients are added into ``grads``.

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


@register
class Seq2Seq(_Pattern):
    """Asynchronous encoder-decoder (Sutskever et al. 2014; Cho et al. 2014).

    The encoder reads the source; its final state (at each sequence's own last
    step with ``src_lengths``) starts the decoder, which predicts the target
    token by token through ``Linear(hidden_size, num_classes)``. Training uses
    teacher forcing (``forward``): the decoder reads ``[start_token, tgt[0],
    ..., tgt[-2]]`` and the logits predict ``tgt`` itself, which should end
    with ``end_token``, so ``softmax_cross_entropy(logits, tgt, mask)`` is the
    loss. ``generate`` decodes greedily. Parameters: ``"src_embedding.weight"``
    (if any), ``"tgt_embedding.weight"``, ``"encoder.<name>"``,
    ``"decoder.<name>"``, ``"head.weight"``, ``"head.bias"``.

    Parameters
    ----------
    encoder, decoder : SRN, LSTM or GRU
        Unidirectional layers of the same class, ``hidden_size``,
        ``num_layers``, dtype and layout (the state passes over);
        ``decoder.input_size`` is the target embedding's size.
    num_classes : int
        The target vocabulary, ``start_token`` and ``end_token`` included.
    start_token, end_token : int
        Token ids in [0, num_classes).
    src_embedding : Embedding, optional
        For source token ids (else the source is a float array).
    tgt_embedding : Embedding, optional
        ``Embedding(num_classes, decoder.input_size)``; built (from ``seed``)
        when None.
    seed : None, int or numpy.random.Generator, optional
        The built target embedding's and the head's seed (the head draws with
        ``seed + 1`` for an int).

    Raises
    ------
    TypeError
        For non-recurrent layers, layers of different classes, non-int tokens,
        an embedding of another dtype or a bad ``seed``.
    ValueError
        For layers that differ in size, depth, dtype or layout, a bidirectional
        one, tokens out of range, or embeddings of other sizes.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> model = fastrnn.Seq2Seq(fastrnn.GRU(3, 8, seed=0), fastrnn.GRU(4, 8, seed=1),
    ...                         num_classes=6, start_token=0, end_token=5, seed=0)
    >>> src = np.ones((7, 2, 3), dtype=np.float32)              # (T_src, N, 3)
    >>> tgt = np.array([[1, 2], [3, 5], [5, 5]])                # (T_tgt, N), ends with 5
    >>> logits = model.forward(src, tgt)                        # teacher forcing
    >>> loss, dlogits = fastrnn.softmax_cross_entropy(logits, tgt)
    >>> dsrc = model.backward(dlogits)
    >>> logits.shape, dsrc.shape
    ((3, 2, 6), (7, 2, 3))
    >>> out = model.generate(src, max_len=4)                    # greedy: (T_out, N) ids
    >>> out.shape[1], bool(out.shape[0] <= 4)
    (2, True)
    """

    def __init__(self, encoder, decoder, num_classes, start_token, end_token,
                 src_embedding=None, tgt_embedding=None, seed=None):
        super().__init__()
        check_seed(seed)
        _check_rnn("encoder", encoder)
        _check_rnn("decoder", decoder)
        if type(encoder) is not type(decoder):
            raise TypeError(f"decoder: expected a {type(encoder).__name__} like the encoder "
                            f"(the state passes over), got {type(decoder).__name__}")
        for attr in ("hidden_size", "num_layers", "dtype", "batch_first"):
            a, b = getattr(encoder, attr), getattr(decoder, attr)
            if a != b:
                raise ValueError(f"decoder: expected {attr} = {a!r} like the encoder, got {b!r}")
        for name, rnn in (("encoder", encoder), ("decoder", decoder)):
            if rnn.num_directions != 1:
                raise ValueError(f"{name}: expected a unidirectional layer, got bidirectional=True")
        self.num_classes = V.check_positive_int("num_classes", num_classes)
        for name, tok in (("start_token", start_token), ("end_token", end_token)):
            if isinstance(tok, (bool, np.bool_)) or not isinstance(tok, (int, np.integer)):
                raise TypeError(f"{name}: expected an int, got {type(tok).__name__}")
            if not 0 <= tok < self.num_classes:
                raise ValueError(f"{name}: expected a token in [0, {self.num_classes}), got {tok}")
        self.start_token, self.end_token = int(start_token), int(end_token)
        if src_embedding is not None:
            self._setup(encoder, src_embedding, "encoder")
            self.src_embedding = src_embedding
        if tgt_embedding is None:
            tgt_embedding = Embedding(self.num_classes, decoder.input_size, dtype=decoder.dtype,
                                      seed=seed)
        self._setup(decoder, tgt_embedding, "decoder")
        if tgt_embedding.num_embeddings != self.num_classes:
            raise ValueError(f"tgt_embedding: expected num_embeddings = num_classes = "
                             f"{self.num_classes}, got {tgt_embedding.num_embeddings}")
        self.tgt_embedding = tgt_embedding
        self.encoder, self.decoder = encoder, decoder
        # the head draws apart from the target embedding: seed + 1 for an int seed (a
        # Generator simply goes on)
        head_seed = seed + 1 if isinstance(seed, (int, np.integer)) else seed
        self.head = Linear(decoder.hidden_size, self.num_classes, dtype=decoder.dtype,
                           seed=head_seed)

    def _tgt_ids(self, tgt):
        t = np.asarray(tgt)
        if t.dtype.kind not in "iu" or t.ndim != 2:
            raise TypeError(f"tgt: expected a 2-d integer array of token ids, got dtype "
                            f"{t.dtype} and shape {V.fmt_shape(t.shape)}")
        return t

    def decoder_inputs(self, tgt):
        """What the decoder reads under teacher forcing: ``tgt`` shifted one step later, ``start_token`` first.

        Parameters
        ----------
        tgt : array-like of int, shape (T_tgt, N)
            ((N, T_tgt) with ``batch_first``.)

        Returns
        -------
        numpy.ndarray of int, the shape of ``tgt``

        Raises
        ------
        TypeError
            For ``tgt`` that is not a 2-d integer array.

        Examples
        --------
        >>> import fastrnn
        >>> model = fastrnn.Seq2Seq(fastrnn.SRN(2, 3), fastrnn.SRN(2, 3), 4, start_token=0,
        ...                         end_token=3, seed=0)
        >>> model.decoder_inputs([[1], [2], [3]]).ravel().tolist()
        [0, 1, 2]
        """
        t = self._tgt_ids(tgt)
        ta = self._time_axis(self.decoder)
        start = np.full_like(np.take(t, [0], axis=ta), self.start_token)
        return np.concatenate([start, np.take(t, np.arange(t.shape[ta] - 1), axis=ta)], axis=ta)

    def encode(self, src, src_lengths=None, train=True):
        """The encoder's final state for ``src``.

        Parameters
        ----------
        src : array-like
            (T_src, N, input_size) floats, or (T_src, N) ids with ``src_embedding``
            ((N, T_src, ...) with ``batch_first``).
        src_lengths : array-like of int, shape (N,), optional
        train : bool, default True
            Keep what ``backward`` needs.

        Returns
        -------
        numpy.ndarray or tuple
            (num_layers, N, hidden_size); ``(h, c)`` for an LSTM.
        """
        emb = getattr(self, "src_embedding", None)
        _, state = self.encoder.forward(self._embed(emb, src, train), lengths=src_lengths,
                                        train=train)
        return state

    def forward(self, src, tgt, src_lengths=None, tgt_lengths=None, train=True):
        """Teacher-forced logits predicting ``tgt``.

        Parameters
        ----------
        src : array-like
            (T_src, N, input_size) floats, or (T_src, N) ids with ``src_embedding``
            ((N, T_src, ...) with ``batch_first``).
        tgt : array-like of int, shape (T_tgt, N)
            The target ids ((N, T_tgt) with ``batch_first``), ending with
            ``end_token``.
        src_lengths, tgt_lengths : array-like of int, shape (N,), optional
            The real lengths of padded sources and targets (mask the loss with
            ``length_mask(tgt_lengths, T_tgt)``).
        train : bool, default True
            Keep what ``backward`` needs.

        Returns
        -------
        numpy.ndarray, shape (T_tgt, N, num_classes)
            ((N, T_tgt, num_classes) with ``batch_first``.)

        Raises
        ------
        TypeError
            For ``tgt`` that is not a 2-d integer array.
        ValueError
            For ``tgt`` with another number of sequences than ``src``, or ids out
            of range; as the layers for a bad ``src``.
        """
        t = self._tgt_ids(tgt)
        ta = self._time_axis(self.decoder)
        state = self.encode(src, src_lengths, train)
        n_src = state[0].shape[1] if isinstance(state, tuple) else state.shape[1]
        if t.shape[1 - ta] != n_src:
            raise ValueError(f"tgt: expected {n_src} sequences (those of src), "
                             f"got shape {V.fmt_shape(t.shape)}")
        dec_in = self.tgt_embedding.forward(self.decoder_inputs(t), train=train)
        y, _ = self.decoder.forward(dec_in, state=state, lengths=tgt_lengths, train=train)
        return self.head.forward(y, train=train)

    def backward(self, dlogits):
        """Differentiate the latest ``forward(..., train=True)``; parameter gradients are added into ``grads``.

        The gradient flows from the logits through the decoder into its initial
        state, the encoder's final state, and back through the encoder.

        Parameters
        ----------
        dlogits : numpy.ndarray, shape (T_tgt, N, num_classes)
            ((N, T_tgt, num_classes) with ``batch_first``.)

        Returns
        -------
        numpy.ndarray or None
            The source gradient, the shape of ``src`` (None with ``src_embedding``).

        Raises
        ------
        RuntimeError
            Without a ``forward(..., train=True)`` before.
        """
        dy = self.head.backward(dlogits)
        demb, dstate = self.decoder.backward(dy, None)
        self.tgt_embedding.backward(demb)
        dsrc, _ = self.encoder.backward(None, dstate)
        emb = getattr(self, "src_embedding", None)
        return dsrc if emb is None else emb.backward(dsrc)

    def generate(self, src, max_len, src_lengths=None):
        """Greedy decoding: feed back the argmax token until every sequence has ended.

        A sequence's ``end_token`` is included in the output and every later
        position is filled with ``end_token``; decoding stops when all sequences
        have ended or after ``max_len`` steps.

        Parameters
        ----------
        src : array-like
            As ``forward``.
        max_len : int
            The most steps to decode (>= 1).
        src_lengths : array-like of int, shape (N,), optional

        Returns
        -------
        numpy.ndarray of int64, shape (T_out, N)
            ((N, T_out) with ``batch_first``), T_out <= max_len.

        Raises
        ------
        TypeError, ValueError
            For ``max_len`` that is not a positive int; as the layers for a bad
            ``src``.
        """
        max_len = V.check_positive_int("max_len", max_len)
        state = self.encode(src, src_lengths, train=False)
        N = state[0].shape[1] if isinstance(state, tuple) else state.shape[1]
        bf = self.decoder.batch_first
        tok = np.full(N, self.start_token, dtype=np.int64)
        done = np.zeros(N, dtype=bool)
        out = []
        for _ in range(max_len):
            ids = tok[:, None] if bf else tok[None, :]
            x = self.tgt_embedding.forward(ids, train=False)
            y, state = self.decoder.forward(x, state=state, train=False)
            logits = self.head.forward(y, train=False)
            tok = np.argmax(logits.reshape(N, self.num_classes), axis=-1).astype(np.int64)
            tok[done] = self.end_token
            out.append(tok)
            done |= tok == self.end_token
            if done.all():
                break
        tokens = np.stack(out)                                              # (T_out, N)
        return tokens.T.copy() if bf else tokens

    def get_config(self):
        """What ``from_config`` needs, for ``fastrnn.save``.

        Returns
        -------
        dict
            ``encoder``, ``decoder``, ``num_classes``, ``start_token``,
            ``end_token``, ``src_embedding``, ``tgt_embedding``.
        """
        emb = getattr(self, "src_embedding", None)
        return {"encoder": describe(self.encoder), "decoder": describe(self.decoder),
                "num_classes": self.num_classes, "start_token": self.start_token,
                "end_token": self.end_token,
                "src_embedding": None if emb is None else describe(emb),
                "tgt_embedding": describe(self.tgt_embedding)}

    @classmethod
    def from_config(cls, config):
        """A new model (fresh parameters) from ``get_config()``'s result.

        Parameters
        ----------
        config : dict

        Returns
        -------
        Seq2Seq
        """
        emb = config.get("src_embedding")
        return cls(build(config["encoder"]), build(config["decoder"]), config["num_classes"],
                   config["start_token"], config["end_token"],
                   src_embedding=None if emb is None else build(emb),
                   tgt_embedding=build(config["tgt_embedding"]))

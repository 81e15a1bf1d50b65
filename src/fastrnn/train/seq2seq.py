"""The asynchronous encoder-decoder ``Seq2Seq``: teacher forcing and greedy decoding.

Users reach it as ``fastrnn.Seq2Seq`` and in ``fastrnn.models``, whose
module doc describes the conventions the models share.
"""

import numpy as np

from ..core import validation as V
from ..core.module import check_seed
from .nn import Embedding, Linear
from .patterns import _check_rnn, _Pattern
from .registry import build, describe, register

__all__ = ["Seq2Seq"]


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
        for attr in ("hidden_size", "num_layers", "dtype", "batch_first", "proj_size"):
            a, b = getattr(encoder, attr, 0), getattr(decoder, attr, 0)
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
        self.head = Linear(getattr(decoder, "proj_size", 0) or decoder.hidden_size,
                           self.num_classes, dtype=decoder.dtype, seed=head_seed)

    def _tgt_ids(self, tgt):
        t = np.asarray(tgt)
        if t.dtype.kind not in "iu" or t.ndim != 2:
            raise TypeError(f"tgt: expected a 2-d integer array of token ids, got dtype "
                            f"{t.dtype} and shape {V.fmt_shape(t.shape)}")
        return t

    def decoder_inputs(self, tgt):
        """The decoder's teacher-forced input: ``tgt`` one step later, ``start_token`` first.

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
        """Differentiate the latest ``forward(..., train=True)``, adding into ``grads``.

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

        The decoder runs as a ``fastrnn.Stream`` (its weights packed once).

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
        # the decoder one token at a time: its weights packed once, its state kept inside
        stream = self.decoder.stream(batch_size=N, state=state)
        tok = np.full(N, self.start_token, dtype=np.int64)
        done = np.zeros(N, dtype=bool)
        out = []
        for _ in range(max_len):
            x_t = self.tgt_embedding.forward(tok, train=False)               # (N, E)
            logits = self.head.forward(stream.step(x_t), train=False)       # (N, classes)
            tok = np.argmax(logits, axis=-1).astype(np.int64)
            tok[done] = self.end_token
            out.append(tok)
            done |= tok == self.end_token
            if done.all():
                break
        tokens = np.stack(out)                                              # (T_out, N)
        return tokens.T.copy() if self.decoder.batch_first else tokens

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

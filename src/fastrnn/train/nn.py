"""Feed-forward layers around the recurrence: ``Linear`` and ``Embedding``.

They follow the recurrent layers' conventions (``fastrnn.layers``):

* parameters live in one flat buffer ``params_flat`` and their gradients in
  ``grads_flat`` (same layout); ``params`` and ``grads`` are mappings of named
  views into them (``fastrnn.core.module.ParameterViews``), so an optimizer
  updating ``params[k]`` in place updates the layer, and ``params[k] = value``
  copies into the view;
* ``forward(x, train=True)`` keeps what ``backward`` needs, replacing the
  previous one's (``train=False`` keeps nothing and leaves it alone);
  ``backward(dy)`` differentiates the LATEST ``forward(x, train=True)``,
  ADDS the parameter gradients into ``grads`` (they accumulate until
  ``zero_grad()``) and returns a fresh input gradient;
* names, shapes and default initializations are PyTorch's (``nn.Linear``,
  ``nn.Embedding``), so ``load_state_dict`` takes a torch ``state_dict``.

A module used twice in one forward pass (e.g. a shared embedding) keeps only
the second cache: use one module per use.
"""

import numpy as np

from ..core import validation as V
from ..core.module import Module, check_seed


class Linear(Module):
    """Affine map over the last axis: ``y = x @ weight.T + bias``.

    ``weight`` is (out_features, in_features) and ``bias`` (out_features,),
    both uniform in (-1/sqrt(in_features), 1/sqrt(in_features)) as in PyTorch.
    ``x`` is any (..., in_features) float array; ``y`` is (..., out_features).

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last axis of x and y (>= 1).
    bias : bool, default True
        Whether there is a ``bias``.
    dtype : float32 or float64, default float32
        The parameters' dtype (inputs are cast to it).
    seed : None, int or numpy.random.Generator, optional
        The initialization's seed (anything ``numpy.random.default_rng`` takes).

    Raises
    ------
    TypeError
        For a non-int size, a non-bool ``bias``, another dtype or a bad ``seed``.
    ValueError
        For a size < 1 or a negative ``seed``.
    MemoryError
        When the parameters cannot be allocated (the message gives the size).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> head = fastrnn.Linear(4, 3, seed=0)
    >>> head.params["weight"].shape, head.params["bias"].shape
    ((3, 4), (3,))
    >>> y = head.forward(np.ones((5, 2, 4), dtype=np.float32))   # (..., in_features)
    >>> y.shape
    (5, 2, 3)
    >>> dx = head.backward(np.ones_like(y))                      # adds into head.grads
    >>> dx.shape, head.grads["bias"].tolist()
    ((5, 2, 4), [10.0, 10.0, 10.0])
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, seed=None):
        self.in_features = V.check_positive_int("in_features", in_features)
        self.out_features = V.check_positive_int("out_features", out_features)
        self.has_bias = V.check_bool("bias", bias)
        check_seed(seed)
        shapes = {"weight": (self.out_features, self.in_features)}
        if self.has_bias:
            shapes["bias"] = (self.out_features,)
        self._allocate(shapes, dtype)
        self.reset_parameters(seed)

    def reset_parameters(self, seed=None):
        """Draw the parameters anew with PyTorch's default initialization.

        Every parameter uniform in (-1/sqrt(in_features), 1/sqrt(in_features));
        bumps ``param_version``.

        Parameters
        ----------
        seed : None, int or numpy.random.Generator, optional
            The draw's seed (the same seed gives the same parameters).

        Raises
        ------
        TypeError, ValueError
            For a bad ``seed``; nothing is changed.
        """
        bound = 1.0 / np.sqrt(self.in_features)
        rng = np.random.default_rng(seed)
        self.params_flat[...] = rng.uniform(-bound, bound, size=self.params_flat.size)

    def get_config(self):
        """The constructor's arguments, for ``fastrnn.save`` (``seed`` excluded).

        Returns
        -------
        dict
            ``in_features``, ``out_features``, ``bias``, ``dtype`` (a name).
        """
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.has_bias, "dtype": self.dtype.name}

    def forward(self, x, train=True):
        """``y = x @ weight.T + bias``.

        Parameters
        ----------
        x : array-like of float, shape (..., in_features)
            Cast to the layer's dtype.
        train : bool, default True
            Keep ``x`` for ``backward`` (False: keep nothing).

        Returns
        -------
        numpy.ndarray, shape (..., out_features)

        Raises
        ------
        ValueError
            If the last axis of ``x`` is not ``in_features``.
        TypeError
            For a non-float ``x`` or a non-bool ``train``.
        """
        train = V.check_bool("train", train)
        x = V.as_float_array("x", x, self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected shape (..., {self.in_features}), "
                             f"got {V.fmt_shape(x.shape)}")
        y = x @ self.params["weight"].T
        if self.has_bias:
            y += self.params["bias"]
        if train:  # inference leaves the latest training forward's cache alone
            self._cache = x
        return y

    def backward(self, dy):
        """Differentiate the latest ``forward(..., train=True)``.

        Adds ``dW = sum over rows of dy^T x`` into ``grads["weight"]`` and
        ``db = sum over rows of dy`` into ``grads["bias"]``.

        Parameters
        ----------
        dy : array-like of float, shape (..., out_features)
            The gradient of the loss with respect to ``y`` (the shape of ``y``).

        Returns
        -------
        numpy.ndarray, shape (..., in_features)
            ``dx = dy @ weight``, a fresh array.

        Raises
        ------
        RuntimeError
            Without a ``forward(..., train=True)`` before.
        ValueError
            If ``dy`` does not have the shape of ``y``.
        TypeError
            For a non-float ``dy``.
        """
        x = self._require_cache()
        expected = x.shape[:-1] + (self.out_features,)
        dy = V.as_float_array("dy", dy, self.dtype)
        if dy.shape != expected:
            raise ValueError(f"dy: expected the shape of y {V.fmt_shape(expected)}, "
                             f"got {V.fmt_shape(dy.shape)}")
        dy2 = dy.reshape(-1, self.out_features)
        x2 = x.reshape(-1, self.in_features)
        self.grads["weight"] += dy2.T @ x2            # dW = sum_rows dy^T x
        if self.has_bias:
            self.grads["bias"] += dy2.sum(axis=0)    # db = sum_rows dy
        return dy @ self.params["weight"]             # dx = dy W

    def __repr__(self):
        return (f"Linear({self.in_features}, {self.out_features}, bias={self.has_bias}, "
                f"dtype={self.dtype.name})")


class Embedding(Module):
    """A lookup table: integer ids of any shape S to vectors (*S, embedding_dim).

    ``weight`` is (num_embeddings, embedding_dim), standard normal as in
    PyTorch. With ``padding_idx`` that row starts at 0 and never receives a
    gradient. ``backward`` returns None (the ids have no gradient).

    Parameters
    ----------
    num_embeddings, embedding_dim : int
        The table's rows (ids in [0, num_embeddings)) and vector size (>= 1).
    padding_idx : int or None, default None
        A row kept at 0 (negative counts from the end).
    dtype : float32 or float64, default float32
        The table's dtype.
    seed : None, int or numpy.random.Generator, optional
        The initialization's seed (anything ``numpy.random.default_rng`` takes).

    Raises
    ------
    TypeError
        For a non-int size or ``padding_idx``, another dtype or a bad ``seed``.
    ValueError
        For a size < 1, a ``padding_idx`` outside [-num_embeddings,
        num_embeddings) or a negative ``seed``.
    MemoryError
        When the table cannot be allocated (the message gives the size).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> emb = fastrnn.Embedding(10, 4, padding_idx=0, seed=0)
    >>> ids = np.array([[1, 2, 0], [3, 0, 0]])                 # (T, N) token ids
    >>> vectors = emb.forward(ids)
    >>> vectors.shape, bool((vectors[1, 1:] == 0).all())
    ((2, 3, 4), True)
    >>> emb.backward(np.ones_like(vectors)) is None            # adds into emb.grads
    True
    >>> emb.grads["weight"][:4, 0].tolist()                    # the padding row gets none
    [0.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float32,
                 seed=None):
        self.num_embeddings = V.check_positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = V.check_positive_int("embedding_dim", embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, (bool, np.bool_)) or not isinstance(padding_idx,
                                                                         (int, np.integer)):
                raise TypeError(f"padding_idx: expected an int or None, "
                                f"got {type(padding_idx).__name__}")
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"padding_idx: expected an index in "
                                 f"[{-self.num_embeddings}, {self.num_embeddings}), "
                                 f"got {padding_idx}")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        check_seed(seed)
        self._allocate({"weight": (self.num_embeddings, self.embedding_dim)}, dtype)
        self.reset_parameters(seed)

    def reset_parameters(self, seed=None):
        """Draw the table anew with PyTorch's default: standard normal, the padding row zero.

        Bumps ``param_version``.

        Parameters
        ----------
        seed : None, int or numpy.random.Generator, optional
            The draw's seed (the same seed gives the same table).

        Raises
        ------
        TypeError, ValueError
            For a bad ``seed``; nothing is changed.
        """
        rng = np.random.default_rng(seed)
        self.params_flat[...] = rng.standard_normal(self.params_flat.size)
        if self.padding_idx is not None:
            self.params["weight"][self.padding_idx] = 0

    def get_config(self):
        """The constructor's arguments, for ``fastrnn.save`` (``seed`` excluded).

        Returns
        -------
        dict
            ``num_embeddings``, ``embedding_dim``, ``padding_idx``, ``dtype`` (a name).
        """
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "padding_idx": self.padding_idx, "dtype": self.dtype.name}

    def _check_ids(self, ids):
        arr = np.asarray(ids)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"ids: expected an integer array, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.num_embeddings):
            flat = arr.reshape(-1)
            k = int(np.flatnonzero((flat < 0) | (flat >= self.num_embeddings))[0])
            bad = [int(i) for i in np.unravel_index(k, arr.shape)]
            raise ValueError(f"ids: expected ids in [0, {self.num_embeddings}), "
                             f"got ids{bad} = {int(flat[k])}")
        return arr

    def forward(self, ids, train=True):
        """Look the ids up: the rows ``weight[ids]``.

        Parameters
        ----------
        ids : array-like of int, any shape S
            Each in [0, num_embeddings).
        train : bool, default True
            Keep a copy of ``ids`` for ``backward`` (False: keep nothing).

        Returns
        -------
        numpy.ndarray, shape S + (embedding_dim,)
            A fresh array.

        Raises
        ------
        TypeError
            For non-integer ids or a non-bool ``train``.
        ValueError
            For an id outside [0, num_embeddings) (naming the first).
        """
        train = V.check_bool("train", train)
        ids = self._check_ids(ids)
        if train:
            self._cache = ids.copy()
        return self.params["weight"][ids]

    def backward(self, dy):
        """Differentiate the latest ``forward(..., train=True)``.

        Adds row k of ``dy`` into ``grads["weight"][ids[k]]`` for every position k
        (repeated ids accumulate), except at ``padding_idx``.

        Parameters
        ----------
        dy : array-like of float, shape ids.shape + (embedding_dim,)
            The gradient of the loss with respect to the looked-up vectors.

        Returns
        -------
        None
            The ids have no gradient.

        Raises
        ------
        RuntimeError
            Without a ``forward(..., train=True)`` before.
        ValueError
            If ``dy`` does not have the shape of the forward's output.
        TypeError
            For a non-float ``dy``.
        """
        ids = self._require_cache()
        expected = ids.shape + (self.embedding_dim,)
        dy = V.as_float_array("dy", dy, self.dtype)
        if dy.shape != expected:
            raise ValueError(f"dy: expected shape ids.shape + (embedding_dim,) = "
                             f"{V.fmt_shape(expected)}, got {V.fmt_shape(dy.shape)}")
        flat_ids = ids.reshape(-1)
        rows = dy.reshape(-1, self.embedding_dim)
        if self.padding_idx is not None:
            keep = flat_ids != self.padding_idx
            flat_ids, rows = flat_ids[keep], rows[keep]
        np.add.at(self.grads["weight"], flat_ids, rows)   # dW[ids[k]] += dy[k]
        return None

    def __repr__(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return (f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad}, "
                f"dtype={self.dtype.name})")

"""The random masks of the layers' dropout: where they come from and how they are drawn.

Each layer draws its masks from a generator of its own (``dropout_rng``),
seeded from the constructor's ``seed`` apart from the parameters' draw; the
engines never draw: they take the masks as arrays, so both engines see the
same masks for the same seed.
"""

import numpy as np


def dropout_generator(seed):
    """The generator of a layer's dropout masks, from the constructor's ``seed``.

    An int, a sequence of ints or a SeedSequence gives a stream of its own,
    apart from the one that draws the initial parameters (so adding dropout
    to a layer does not change its initial parameters, and the masks do not
    repeat the parameters' draws); a Generator or BitGenerator is used as it
    is; None draws fresh entropy.

    Parameters
    ----------
    seed : None, int, sequence of ints, numpy.random.Generator, BitGenerator or SeedSequence
        As the layers' ``seed`` (checked by the caller).

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> a, b = dropout_generator(7), dropout_generator(7)
    >>> bool(a.random() == b.random())
    True
    """
    if isinstance(seed, (np.random.Generator, np.random.BitGenerator)):
        return np.random.default_rng(seed)
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # a child of the seed's own sequence: the first child, whatever spawn() did before
    return np.random.default_rng(np.random.SeedSequence(sequence.entropy,
                                                        spawn_key=sequence.spawn_key + (1,)))


def dropout_mask(rng, p, shape, dtype):
    """An inverted-dropout mask: 0 with probability ``p``, else ``1/(1-p)``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws one uniform per element.
    p : float
        The drop probability, in [0, 1).
    shape : tuple of int
        The mask's shape (the shape of what it multiplies).
    dtype : numpy.dtype
        The mask's dtype (the layer's).

    Returns
    -------
    numpy.ndarray
        Each element 0 or ``1/(1-p)`` (rounded once to ``dtype``), its mean 1
        in expectation.

    Examples
    --------
    >>> dropout_mask(np.random.default_rng(0), 0.5, (2, 3), np.float64).tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 2.0]]
    """
    keep = rng.random(shape) >= p
    return keep.astype(dtype) / np.dtype(dtype).type(1 - p)

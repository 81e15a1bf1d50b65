"""Small data shipped with fastrnn for the demo and the examples.

``corpus()`` returns "The Keeper of the North Light", about 6 KB of plain
English prose written for this package (public domain, CC0), a size a
character-level model learns in well under a minute.
"""

from importlib import resources

__all__ = ["corpus", "CORPORA"]

CORPORA = ("lighthouse",)


def corpus(name="lighthouse"):
    """The text of a corpus shipped with fastrnn.

    Parameters
    ----------
    name : str, default "lighthouse"
        One of ``CORPORA``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For another name.

    Examples
    --------
    >>> from fastrnn import data
    >>> text = data.corpus()
    >>> text.splitlines()[0], 4000 < len(text) < 10000
    ('THE KEEPER OF THE NORTH LIGHT', True)
    """
    if name not in CORPORA:
        raise ValueError(f"name: expected one of {CORPORA}, got {name!r}")
    return resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")

"""The public API's docstrings document every argument: the layers' and the functional API's,
completed from the shared text by ``fastrnn.core.docstrings.complete_doc``."""

import inspect
import re

import pytest

import fastrnn
import fastrnn.functional as F
from fastrnn.core.docstrings import complete_doc

LAYER_ATTRIBUTES = ("params", "grads", "params_flat", "grads_flat", "param_version",
                    "num_directions")


def sections(doc):
    """{title: body} of a numpydoc docstring."""
    parts = re.split(r"^(\w[\w ]*)\n-+$", doc, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def documented_names(body):
    """The names of the "name : type" (or "a, b : type") entries of a section."""
    names = []
    for line in body.splitlines():
        if line and not line.startswith(" "):
            names += [n.strip() for n in line.partition(" : ")[0].split(",")]
    return names


def arguments(function):
    return [n for n in inspect.signature(function).parameters if n not in ("self", "cls")]


@pytest.mark.parametrize("cls", [fastrnn.SRN, fastrnn.LSTM, fastrnn.GRU])
def test_the_layers_document_every_argument_and_attribute(cls):
    doc = sections(inspect.getdoc(cls))
    assert documented_names(doc["Parameters"]) == arguments(cls.__init__)
    assert set(LAYER_ATTRIBUTES) <= set(documented_names(doc["Attributes"]))
    for word in ("``x``", "``y``", "``state``", "``lengths``", "ADDS", "zero_grad()"):
        assert word in doc["Notes"], word
    for method in ("forward", "backward", "stream", "reset_parameters", "state_dict",
                   "load_state_dict"):
        assert method + "(" in doc["Methods"], method
    assert ">>>" in doc["Examples"]


@pytest.mark.parametrize("function", [F.srn_forward, F.lstm_forward, F.gru_forward,
                                      F.srn_backward, F.lstm_backward, F.gru_backward])
def test_the_functional_api_documents_every_argument(function):
    doc = sections(inspect.getdoc(function))
    assert documented_names(doc["Parameters"]) == arguments(function)
    assert {"Returns", "Raises"} <= set(doc)


def test_an_undocumented_argument_fails_loudly():
    def toy(x, surprise):
        """A toy."""

    with pytest.raises(KeyError, match="surprise"):
        complete_doc("forward")(toy)


def test_documenting_an_argument_that_does_not_exist_fails_loudly():
    def toy(x):
        """A toy.

        Parameters
        ----------
        gone : int
            Removed from the signature, not from the docstring.
        """

    with pytest.raises(ValueError, match="gone"):
        complete_doc("forward")(toy)


def test_own_entries_win_and_sections_follow_numpydocs_order():
    def toy(x, reverse=False):
        """A toy.

        Examples
        --------
        >>> 1
        1

        Parameters
        ----------
        reverse : bool
            Its own meaning here.

        Returns
        -------
        int
        """

    doc = complete_doc("forward")(toy).__doc__
    assert list(sections(doc)) == ["Parameters", "Returns", "Raises", "Notes", "Examples"]
    assert "Its own meaning here." in doc and "from step T-1 down to 0" not in doc
    assert "x : array-like of float, shape (T, N, I)" in doc

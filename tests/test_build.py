"""The compiled engine is part of the product: a build without it is a failure, not a skip."""

import os

import fastrnn


def test_c_engine_is_built():
    assert fastrnn.c_engine_available(), "fastrnn._c_engine does not import: the build is broken"


def test_default_backend_is_c_unless_overridden():
    expected = os.environ.get("FASTRNN_BACKEND", "c").strip().lower()
    assert fastrnn._backend._default() == expected

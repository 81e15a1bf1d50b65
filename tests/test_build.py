"""The compiled engine is part of the product: a build without it is a failure, not a skip."""

import os

import pytest

import fastrnn


def test_c_engine_is_built():
    assert fastrnn.c_engine_available(), "fastrnn.core.c_engine does not import: the build is broken"


def test_default_backend_is_c_unless_overridden():
    expected = os.environ.get("FASTRNN_BACKEND", "c").strip().lower()
    assert fastrnn.core.backend._default() == expected


def test_the_expected_build_is_the_one_imported():
    """The sanitizer run (.ci/sanitize) sets FASTRNN_EXPECT_PATH to its instrumented build."""
    expected = os.environ.get("FASTRNN_EXPECT_PATH")
    if expected is None:
        pytest.skip("only meaningful under .ci/sanitize")
    import fastrnn.core._ext
    assert os.path.realpath(fastrnn.core._ext.__file__).startswith(os.path.realpath(expected))

"""The C boundary is written once: csrc/fastrnn.h declares it, the Cython side is checked
against it, and the kernels check what Python cannot see (issue 10, item 4)."""

import re
from pathlib import Path

import numpy as np
import pytest

import fastrnn.functional as F

_ext = pytest.importorskip("fastrnn.core._ext")

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "csrc" / "fastrnn.h"
PXD = ROOT / "src" / "fastrnn" / "core" / "_ext.pxd"


def _c_struct_fields(text, name):
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    fields = []
    for decl in body.split(";"):
        decl = decl.strip()
        if not decl:
            continue
        # "const void *W_ih, *W_hh" / "int steps, batch" / "volatile int *interrupt"
        for part in decl.split(","):
            fields.append(re.findall(r"[A-Za-z_]\w*", part)[-1])
    return fields


def _pxd_struct_fields(text, name):
    block = re.search(r"ctypedef struct %s:\n((?:        .*\n)+)" % name, text).group(1)
    fields = []
    for line in block.splitlines():
        decl = line.strip().split("#")[0]
        for part in decl.split(","):
            fields.append(re.findall(r"[A-Za-z_]\w*", part)[-1])
    return fields


@pytest.mark.skipif(not HEADER.exists() or not PXD.exists(), reason="needs the source tree")
@pytest.mark.parametrize("struct", ["fastrnn_rnn", "fastrnn_ctx"])
def test_the_binding_declares_every_field_of_the_header(struct):
    header, pxd = HEADER.read_text(), PXD.read_text()
    assert _pxd_struct_fields(pxd, struct) == _c_struct_fields(header, struct)


@pytest.mark.skipif(not HEADER.exists() or not PXD.exists(), reason="needs the source tree")
def test_the_binding_declares_every_entry_point_of_the_header():
    header = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
    declared = set(re.findall(r"\b(fastrnn_\w+)\s*\(", header))
    pxd = PXD.read_text()
    missing = sorted(n for n in declared if not re.search(r"\b%s\(" % n, pxd))
    assert not missing, f"declared in fastrnn.h, not in _ext.pxd: {missing}"


def test_the_abi_version_is_the_headers():
    assert _ext.abi_version() == _ext.ABI_VERSION
    assert f"#define FASTRNN_ABI_VERSION {_ext.ABI_VERSION}" in HEADER.read_text()


@pytest.mark.parametrize("cell", ["srn", "lstm", "gru"])
@pytest.mark.parametrize("train", [True, False])
def test_kernels_refuse_a_workspace_too_small(cell, train):
    G = F.GATES[cell]
    rng = np.random.default_rng(0)
    a = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    args = (a(4, 2, 3), a(2, 5), a(2, 5), a(G * 5, 3), a(G * 5, 5), a(G * 5), a(G * 5))
    y, _, _, cache = _ext.forward(cell, *args, train=train)   # enough: fine
    _ext._set_workspace_shortfall(1)
    try:
        with pytest.raises(ValueError, match="FASTRNN_EINVAL"):
            _ext.forward(cell, *args, train=train)
        if train:
            with pytest.raises(ValueError, match="FASTRNN_EINVAL"):
                _ext.backward(cache, np.ones_like(y), a(2, 5), a(2, 5), np.zeros((G * 5, 3),
                              np.float32), np.zeros((G * 5, 5), np.float32),
                              np.zeros(G * 5, np.float32), np.zeros(G * 5, np.float32))
    finally:
        _ext._set_workspace_shortfall(0)

# The compiled engine's Cython layer (kernels in csrc/).

cdef extern from "fastrnn.h":
    int fastrnn_abi_version()


def abi_version():
    """The C kernels' ABI version."""
    return fastrnn_abi_version()

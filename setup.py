"""Build of fastrnn's compiled engine: one Cython module over the C99 kernels in csrc/.

Portable by default (-O3, never -ffast-math: reassociation would break the
float64 parity with the NumPy engine). FASTRNN_NATIVE=1 adds -march=native for
a build tuned to the local CPU; FASTRNN_BOUNDSCHECK=1 turns Cython's bounds and
wraparound checks back on for debugging.
"""

import glob
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

compile_args = ["-O3", "-std=c99", "-pthread"]
if os.environ.get("FASTRNN_NATIVE") == "1":
    compile_args.append("-march=native")
extra_link_args = ["-pthread"]
sanitize = os.environ.get("FASTRNN_SANITIZE")  # e.g. "address,undefined"
if sanitize:
    compile_args += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-O1", "-g"]
    extra_link_args += [f"-fsanitize={sanitize}"]

debug = os.environ.get("FASTRNN_BOUNDSCHECK") == "1"
directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "cdivision": True,
    "initializedcheck": debug,
}

extensions = [
    Extension(
        "fastrnn.core._ext",
        sources=["src/fastrnn/core/_ext.pyx"] + sorted(glob.glob("csrc/*.c")),
        include_dirs=[numpy.get_include(), "csrc"],
        depends=sorted(glob.glob("csrc/*.h")) + sorted(glob.glob("src/fastrnn/core/*.pxi"))
        + ["src/fastrnn/core/_ext.pxd"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=extra_link_args,
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives))

"""The docstrings' examples run, and need none of the optional packages.

CI runs every doctest of the installed package with the optional packages it has
(``python -m pytest --doctest-modules --pyargs fastrnn``); here they run once more in a fresh
interpreter in which torch, onnx, onnxruntime, keras and mpi4py cannot be imported, so an
example that needs one must skip (``pytest.importorskip``) instead of failing, and collecting
the doctests must import none of them. pytest never collects ``__main__.py`` for doctests (so
collecting runs no command line); its examples run here with ``doctest``.
"""

import doctest
import os
import subprocess
import sys
from pathlib import Path

import fastrnn
import fastrnn.__main__

OPTIONAL = ("torch", "onnx", "onnxruntime", "keras", "mpi4py")

# Runs pytest with the optional packages made unimportable: None in sys.modules makes
# ``import name`` (and ``import name.sub``) raise ImportError, as if not installed.
_RUNNER = """
import sys
for name in {optional!r}:
    sys.modules[name] = None
import pytest
sys.exit(pytest.main(["--doctest-modules", "--pyargs", "fastrnn", "-q", "-p", "no:cacheprovider"]))
"""


def test_doctests_pass_without_the_optional_packages(tmp_path):
    env = dict(os.environ)
    package_root = str(Path(fastrnn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in
                                                          [env.get("PYTHONPATH")] if p])
    res = subprocess.run([sys.executable, "-c", _RUNNER.format(optional=OPTIONAL)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and "skipped" in res.stdout, res.stdout[-2000:]


def test_the_command_line_doctests_pass():
    result = doctest.testmod(fastrnn.__main__, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 1
    assert result.failed == 0

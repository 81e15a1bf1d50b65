"""pytest hooks and fixtures of the benchmarks: all in fastrnn_bench/pytest_plugin.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # fastrnn_bench, any rootdir

from fastrnn_bench.pytest_plugin import *  # noqa: E402,F401,F403  (hooks and fixtures)

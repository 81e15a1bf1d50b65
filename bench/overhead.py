#!/usr/bin/env python3
"""The T=1 forward overhead at the binding, functional and layer levels, per source tree.

    python bench/overhead.py                                          # this checkout
    python bench/overhead.py --tree before=/work/wt/before/src --tree after=src
    python bench/overhead.py --help

See fastrnn_bench/overhead.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fastrnn_bench.overhead import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

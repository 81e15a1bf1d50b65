#!/usr/bin/env python3
"""Each engine's time with competing CPU-bound processes, over its quiet time.

    python bench/busy.py --cells lstm --sizes 100x8x128 --engines c,numpy,torch
    python bench/busy.py --help

See fastrnn_bench/children.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fastrnn_bench.children import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The grid's C engine at one thread, this tree against an older build, side by side.

    python bench/before.py --tree before=/work/wt/before/src --tree after=src
    python bench/before.py --help

See fastrnn_bench/before.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fastrnn_bench.before import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

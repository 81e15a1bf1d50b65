#!/usr/bin/env python3
"""The C engine's per-step barrier cost: a tiny split step on 1 and on 2 threads.

    python bench/barrier.py --json barrier.json
    python -m fastrnn_bench.report grid.json barrier.json --scaling bench/SCALING.md

See fastrnn_bench/scaling.py (the measurement and the model of bench/SCALING.md).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fastrnn_bench.scaling import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

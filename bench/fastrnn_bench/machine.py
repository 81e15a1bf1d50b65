"""The machine a benchmark ran on: CPU, ISA, BLAS and its threads, versions, environment.

``describe()`` returns a JSON-able dict; ``report.machine_section`` renders it.
"""

import datetime
import os
import platform
import re
import subprocess
import sys

from . import REPO, import_fastrnn, import_torch
from .layouts import ext_module

# environment variables that change what the kernels or BLAS do
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "FASTRNN_NUM_THREADS", "FASTRNN_BACKEND", "FASTRNN_NATIVE",
            "FASTRNN_ISA")
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni",
              "amx_tile")
LSCPU_KEYS = ("Model name", "Vendor ID", "CPU family", "Model", "CPU(s)", "Thread(s) per core",
              "Core(s) per socket", "L1d cache", "L2 cache", "L3 cache", "Hypervisor vendor",
              "CPU max MHz")


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _run(cmd, cwd=REPO):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                              cwd=cwd).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def git_describe(path):
    """Short commit of the checkout holding ``path``, with ``+dirty`` for tracked changes."""
    cwd = path if os.path.isdir(path) else os.path.dirname(path)
    commit = _run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd)
    if not commit:
        return None
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd)
    return commit + ("+dirty" if dirty else "")


def cpu():
    """CPU model, lscpu's main fields, SIMD flags, core counts, memory."""
    info = {}
    cpuinfo = _read("/proc/cpuinfo")
    m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    info["cpu_model"] = m.group(1).strip() if m else platform.processor() or "unknown"
    lscpu = {}
    for line in _run(["lscpu"]).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            lscpu[k.strip()] = v.strip()
    info["lscpu"] = {k: lscpu[k] for k in LSCPU_KEYS if k in lscpu}
    flags = set(lscpu.get("Flags", "").split())
    if not flags:
        m = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
        flags = set(m.group(1).split()) if m else set()
    info["simd"] = [f for f in SIMD_FLAGS if f in flags]
    info["logical_cpus"] = os.cpu_count()
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["usable_cpus"] = os.cpu_count()
    m = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    info["memory_gib"] = round(int(m.group(1)) / 2**20, 1) if m else None
    return info


def kernels(fastrnn):
    """What the C engine runs with: its ISA (and what is available) and its threads.

    Today's engine has its own pool (``fastrnn.get_num_threads()``, ``pool_stalls``);
    the pre-restructure build ran its products on SciPy's OpenBLAS (``blas_threads``).
    Whatever a build lacks is left out."""
    info = {"c_engine_available": bool(fastrnn.c_engine_available())}
    if hasattr(fastrnn, "get_num_threads"):
        info["fastrnn_threads"] = fastrnn.get_num_threads()
    if not info["c_engine_available"]:
        return info
    try:
        ext = ext_module(fastrnn)
    except ImportError as exc:
        info["isa"] = f"unknown ({type(exc).__name__}: {exc})"
        return info
    for key, name in (("isa", "get_isa"), ("isa_setting", "isa_setting"),
                      ("isas_available", "available_isas"),
                      ("blas_threads_seen_by_kernels", "blas_threads"),
                      ("pool_workers_started", "pool_size"), ("pool_stalls", "pool_stalls")):
        fn = getattr(ext, name, None)
        if fn is not None:
            value = fn()
            info[key] = list(value) if key == "isas_available" else value
    info.setdefault("isa", "unknown (a build without get_isa)")
    return info


def blas():
    """Every BLAS/OpenMP library threadpoolctl finds in this process, with its threads."""
    from threadpoolctl import threadpool_info
    return [{k: lib.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                     "architecture", "threading_layer", "num_threads",
                                     "filepath")}
            for lib in threadpool_info()]


def describe():
    """The whole description, as a JSON-able dict (see the module docstring)."""
    import numpy
    import threadpoolctl
    fastrnn = import_fastrnn()
    torch = import_torch()
    try:
        import scipy
        scipy_version = scipy.__version__
    except ImportError:
        scipy_version = None
    info = cpu()
    info.update(kernels(fastrnn))
    info.update(
        platform=platform.platform(), python=sys.version.split()[0], numpy=numpy.__version__,
        scipy=scipy_version, torch=getattr(torch, "__version__", None),
        threadpoolctl=threadpoolctl.__version__, fastrnn=getattr(fastrnn, "__version__", None),
        fastrnn_path=os.path.dirname(fastrnn.__file__), default_backend=fastrnn.get_backend(),
        git=git_describe(os.path.dirname(fastrnn.__file__)),
        env={k: os.environ.get(k) for k in ENV_VARS}, blas=blas(),
        date_utc=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    info["threads_default"] = threads_default()
    if torch is not None:
        par = torch.__config__.parallel_info()
        info["torch_parallel"] = [line.strip() for line in par.splitlines()
                                  if any(s in line for s in ("backend", "Math Kernel", "MKL-DNN",
                                                             "oneDNN", "OpenMP"))]
        info["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
    return info


def threads_default():
    """Each library's thread count with nothing limited: what the busy-machine table and a
    user who sets nothing get (fastrnn: ``FASTRNN_NUM_THREADS`` or the CPUs it may use)."""
    from threadpoolctl import threadpool_info
    fastrnn = import_fastrnn()
    torch = import_torch()
    out = {}
    if hasattr(fastrnn, "get_num_threads"):
        out["fastrnn"] = fastrnn.get_num_threads()
    for lib in threadpool_info():
        if lib.get("user_api") != "fastrnn":
            out[f"{lib.get('user_api')}:{lib.get('prefix')}"] = lib.get("num_threads")
    if torch is not None:
        out["torch"] = torch.get_num_threads()
        out["torch_interop"] = torch.get_num_interop_threads()
    return out


def short(info):
    """One line: CPU, ISA, versions, git; for the sections that are not the main run."""
    return (f"{info.get('cpu_model')}, {info.get('logical_cpus')} CPUs, kernels ISA "
            f"{info.get('isa', 'n/a')}, Python {info.get('python')}, NumPy {info.get('numpy')}, "
            f"torch {info.get('torch') or 'n/a'}, fastrnn git {info.get('git')}")


def main(argv=None):
    """``python -m fastrnn_bench.machine [--json PATH]``: the description and the load now
    (a record of kind "machine" that the report renders when no grid run describes the
    machine, e.g. ``run_all.sh --only streaming``)."""
    import argparse
    import json
    from .records import write
    from .timing import loadavg, sample_others, threads_under_limit
    p = argparse.ArgumentParser(prog="python -m fastrnn_bench.machine")
    p.add_argument("--json", metavar="PATH", help="write it here (else print it)")
    args = p.parse_args(argv)
    meta = dict(kind="machine", machine=describe(), load_start=loadavg(),
                others_start=sample_others(1.0),
                threads_under_limit={n: threads_under_limit(n) for n in (1, 2)})
    if args.json:
        write(args.json, [], meta)
    else:
        print(json.dumps(meta, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

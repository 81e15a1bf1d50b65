"""The README's Python examples work as written.

Each ```python block of README.md is one of two kinds, told apart by its free names (names it
uses but never binds, builtins aside):

* a program binds every name it uses (its imports included). It runs in a fresh interpreter,
  in README order, in one temporary directory (so files one writes are there for the next),
  with the fastrnn these tests import. A program that imports an optional package that is not
  installed (torch, onnx, keras, mpi4py, directly or through fastrnn.onnx, fastrnn.keras,
  fastrnn.distributed) is skipped, naming the package.
* a fragment uses names bound elsewhere (``x``, ``torch_lstm``, ``model``): it shows calls
  rather than a program. It must compile, every ``fastrnn...`` name it uses must exist, and
  every call of a fastrnn function or class must bind to its signature (argument count and
  keyword names).

Running the blocks as scripts, rather than as doctests, keeps the README as readers see it
(no ``>>>`` prompts, no expected output that would follow NumPy's repr from version to
version) and needs no edit of the README: a block that fails here is wrong in the README.
"""

import ast
import builtins
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastrnn

README = Path(__file__).resolve().parent.parent / "README.md"

# fastrnn modules that need an optional package when used
OPTIONAL_SUBMODULES = {"fastrnn.distributed": "mpi4py", "fastrnn.onnx": "onnx",
                       "fastrnn.keras": "keras"}


def python_blocks(text):
    """[(label, source)] of the ```python blocks, labelled by their section heading."""
    blocks, heading, counts = [], "top", {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip() == "```python":
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            counts[heading] = counts.get(heading, 0) + 1
            label = re.sub(r"[^A-Za-z0-9]+", "-", heading).strip("-")
            blocks.append((f"{label}-{counts[heading]}", "\n".join(lines[i + 1:j]) + "\n"))
            i = j
        i += 1
    return blocks


def free_names(tree):
    """Names the code loads but never binds (anywhere in it), builtins excluded."""
    bound, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound - set(dir(builtins))


def fastrnn_aliases(tree):
    """{name: dotted fastrnn path} of the code's imports from fastrnn."""
    aliases = {"fastrnn": "fastrnn"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "fastrnn":
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else "fastrnn"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "fastrnn":
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def dotted(node):
    """``a.b.c`` for an attribute chain on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id] + parts[::-1])


def fastrnn_paths(tree):
    """Every dotted fastrnn path the code uses (through its aliases), outermost chains only."""
    aliases = fastrnn_aliases(tree)
    paths, inner = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            value = node.value
            while isinstance(value, ast.Attribute):
                inner.add(id(value))
                value = value.value
            name = dotted(node)
            if name and name.split(".")[0] in aliases:
                head, _, rest = name.partition(".")
                paths.add(f"{aliases[head]}.{rest}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for a in node.names:
                full = f"{module}.{a.name}" if module else a.name
                if full.split(".")[0] == "fastrnn":
                    paths.add(full)
    return paths


def resolve(path):
    """The object at a dotted fastrnn path (modules imported as needed)."""
    parts = path.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[:i + 1]))
    return obj


def needed_packages(tree):
    """The packages a block imports (top-level names), fastrnn's optional ones included."""
    needed = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            needed.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            needed.add(node.module.split(".")[0])
    for path in fastrnn_paths(tree):
        for module, package in OPTIONAL_SUBMODULES.items():
            if path == module or path.startswith(module + "."):
                needed.add(package)
    return needed


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))
PROGRAMS = [(label, src) for label, src in BLOCKS if not free_names(ast.parse(src))]
FRAGMENTS = [(label, src) for label, src in BLOCKS if free_names(ast.parse(src))]


def test_the_readme_has_programs_and_the_classification_works():
    assert len(PROGRAMS) >= 2, [label for label, _ in BLOCKS]
    assert not free_names(ast.parse("import numpy as np\nx = np.ones(3)\nprint([v for v in x])"))
    assert free_names(ast.parse("from fastrnn import functional as F\ny = F.srn_forward(x)")) \
        == {"x"}
    paths = fastrnn_paths(ast.parse("from fastrnn import functional as F\n"
                                    "F.lstm_forward(x)\nfastrnn.onnx.export(m, 'p')"))
    assert paths == {"fastrnn.functional", "fastrnn.functional.lstm_forward",
                     "fastrnn.onnx.export"}
    assert needed_packages(ast.parse("from fastrnn.distributed import DataParallel")) == \
        {"fastrnn", "mpi4py"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One directory for every program, so a file one writes is there for the next."""
    return tmp_path_factory.mktemp("readme")


@pytest.mark.parametrize("label, source", PROGRAMS, ids=[label for label, _ in PROGRAMS])
def test_readme_program_runs(label, source, workdir):
    missing = sorted(p for p in needed_packages(ast.parse(source))
                     if importlib.util.find_spec(p) is None)
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (not installed)")
    script = workdir / f"{label}.py"
    script.write_text(source)
    env = dict(os.environ)
    package_root = str(Path(fastrnn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in
                                                          [env.get("PYTHONPATH")] if p])
    res = subprocess.run([sys.executable, str(script)], cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"README block {label} failed:\n{source}\n{res.stderr}"


@pytest.mark.parametrize("label, source", FRAGMENTS, ids=[label for label, _ in FRAGMENTS])
def test_readme_fragment_names_exist_and_calls_bind(label, source):
    tree = ast.parse(source)
    compile(tree, label, "exec")
    aliases = fastrnn_aliases(tree)
    for path in sorted(fastrnn_paths(tree)):
        try:
            resolve(path)
        except (AttributeError, ImportError) as exc:
            pytest.fail(f"README block {label} uses {path}, which does not exist ({exc})")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        if not name or name.split(".")[0] not in aliases:
            continue
        if any(isinstance(a, ast.Starred) for a in node.args) or \
                any(k.arg is None for k in node.keywords):
            continue
        head, _, rest = name.partition(".")
        path = aliases[head] + ("." + rest if rest else "")
        target = resolve(path)
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            continue
        try:
            signature.bind(*[None] * len(node.args), **{k.arg: None for k in node.keywords})
        except TypeError as exc:
            pytest.fail(f"README block {label}: {ast.unparse(node)} does not fit "
                        f"{path}{signature}: {exc}")

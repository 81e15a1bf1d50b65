"""RESULTS.md: generated sections between markers, the hand-written text kept.

Every generated section sits between two HTML comments, invisible on GitHub::

    <!-- generated: targets (python -m fastrnn_bench.report; edits here are overwritten) -->
    ...
    <!-- end generated: targets -->

``update`` replaces the body of the sections it is given and leaves everything
else, above all the hand-written analysis (``## Analysis of misses`` and the like),
as it was. A section that is not in the file yet goes right before the next
section of ``ORDER`` that is (or at the end), so hand-written text stays below the
section it follows. A new file starts from ``SKELETON``.
"""

import os
import re

# every generated section, in file order; the hand-written headings sit between them
ORDER = ("summary", "machine", "method", "gemm", "medians", "targets",
         "overhead", "threads-scaling", "threads-before", "busy", "targets-threads", "scaling",
         "streaming", "mpi", "validation", "problems", "profiles")

BEGIN = "<!-- generated: {} (python -m fastrnn_bench.report; edits here are overwritten) -->"
END = "<!-- end generated: {} -->"
_BEGIN_RE = re.compile(r"^<!-- generated: ([\w-]+)\b.*-->$", re.M)

ANALYSIS_PLACEHOLDER = ("_Placeholder, for the lead: for each MISS above, what bounds it (GEMM "
                        "share, elementwise share, call overhead; see `--profile` / "
                        "`--profile-misses`) and what would close it._")
OVERHEAD_PLACEHOLDER = ("_Placeholder, for the lead: where the T=1 time goes at each level "
                        "(binding, functional, layer) and what the restructure changed._")
THREADS_PLACEHOLDER = ("_Placeholder, for the lead: for each issue 11 MISS (2 threads against "
                       "PyTorch, 2 over 1, 1 thread against before), by how much and what "
                       "bounds it, measured (the barrier cost above, memory bandwidth, the "
                       "panel split), not guessed._")
BUSY_PLACEHOLDER = ("_Placeholder, for the lead: the busy-machine factors against the targets "
                    "(<= 2x with one competitor, <= 3x with one per core), the pool stalls, "
                    "and PyTorch's and NumPy's factors beside them._")
STREAMING_PLACEHOLDER = ("_Placeholder, for the lead: where a step's time goes against the "
                         "memory floor and PyTorch's Cell; the fixed cost of a step call; "
                         "each issue 12 MISS, by how much and what bounds it._")

SKELETON = f"""# fastrnn benchmark results

{{summary}}
{{machine}}
{{method}}
{{gemm}}
{{medians}}
{{targets}}
## Analysis of misses

{ANALYSIS_PLACEHOLDER}

{{overhead}}
## Analysis of the T=1 overhead

{OVERHEAD_PLACEHOLDER}

{{threads-scaling}}
{{threads-before}}
{{busy}}
{{targets-threads}}
{{scaling}}
## Analysis: threads

{THREADS_PLACEHOLDER}

## Analysis: busy machine

{BUSY_PLACEHOLDER}

{{streaming}}
## Analysis: streaming

{STREAMING_PLACEHOLDER}

{{mpi}}
## Threads: is the GIL released?

Measured by `python bench/bench_threads.py`: two threads each running an independent long
sequence against one thread running both; see [THREADS.md](THREADS.md).

{{validation}}
{{problems}}
{{profiles}}
"""


def block(name, body):
    """A section with its markers; ``body`` is markdown text (may be empty)."""
    body = body.strip("\n")
    return BEGIN.format(name) + "\n" + (body + "\n" if body else "") + END.format(name) + "\n"


def sections(text):
    """{name: body} of every generated section in ``text``."""
    out = {}
    for m in _BEGIN_RE.finditer(text):
        name = m.group(1)
        end = text.find(END.format(name), m.end())
        if end >= 0:
            out[name] = text[m.end():end].strip("\n")
    return out


def _span(text, name):
    m = re.search(r"^" + re.escape(BEGIN.format(name).split(" (")[0]) + r"\b.*-->$", text, re.M)
    if not m:
        return None
    end_marker = END.format(name)
    end = text.find(end_marker, m.end())
    if end < 0:
        raise ValueError(f"RESULTS.md: section {name!r} has no end marker {end_marker!r}")
    end += len(end_marker)
    if text[end:end + 1] == "\n":
        end += 1
    return m.start(), end


def update(text, new, order=ORDER, skeleton=SKELETON):
    """``text`` with the sections in ``new`` ({name: body}) replaced or inserted; ``order``
    and ``skeleton`` are another file's (SCALING.md's) when given."""
    if not text.strip():
        empty = {name: block(name, "") for name in order}
        text = skeleton.format(**empty)
    for name, body in new.items():
        if name not in order:
            raise ValueError(f"section {name!r}: not in the file's sections {order}")
        span = _span(text, name)
        if span:
            text = text[:span[0]] + block(name, body) + text[span[1]:]
            continue
        at = len(text)                                   # at the end, unless ...
        for after in order[order.index(name) + 1:]:
            span = _span(text, after)
            if span:                                     # ... right before the next one
                at = span[0]
                break
        text = text[:at].rstrip("\n") + "\n\n" + block(name, body) + "\n" + text[at:]
    return re.sub(r"\n{3,}", "\n\n", text)


def write(path, new, order=ORDER, skeleton=SKELETON):
    """Update the file at ``path`` (created from the skeleton if missing) in place."""
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    text = update(old, new, order, skeleton)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)                                # a good file stays good
    return text


def merge_subsections(old_body, new_body, heading="### "):
    """``old_body`` with each ``### `` subsection of ``new_body`` replacing the one of the
    same title (or appended): profiles accumulate across ``--profile`` runs."""
    def split(body):
        preamble, parts, current, order = [], {}, None, []
        for line in body.splitlines():
            if line.startswith(heading):
                current = line
                order.append(line)
                parts[line] = [line]
            elif current is not None:
                parts[current].append(line)
            else:
                preamble.append(line)
        return "\n".join(preamble).strip(), order, parts
    old_pre, old_order, old_parts = split(old_body or "")
    new_pre, new_order, new_parts = split(new_body)
    for title in new_order:
        if title not in old_parts:
            old_order.append(title)
        old_parts[title] = new_parts[title]
    pre = old_pre or new_pre
    return ((pre + "\n\n") if pre else "") + "\n".join(
        "\n".join(old_parts[t]).rstrip() + "\n" for t in old_order)

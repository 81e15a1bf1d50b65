"""Formatting shared by the report's tables: times, ratios, the load column, banners."""

from . import targets as targets_mod
from .timing import BUSY_THRESHOLD

def fmt_ms(seconds):
    if seconds is None:
        return "n/a"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def fmt_us(seconds):
    if seconds is None:
        return "n/a"
    us = seconds * 1e6
    return f"{us:.0f}" if us >= 100 else (f"{us:.1f}" if us >= 10 else f"{us:.2f}")


def fmt_ratio(r):
    return "n/a" if r is None else (f"{r:.1f}x" if r >= 10 else f"{r:.2f}x")


def fmt_pct(p):
    return "n/a" if p is None else f"{100 * p:.0f}%"


ratio = targets_mod.ratio


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def fmt_load(r):
    """The load column: cores used by other processes during the row (load1 if unknown);
    **BUSY** when that is above the threshold or the C engine's pool stalled (``stalls``:
    calls that went on with one thread because a worker was off its CPU)."""
    if r is None:
        return ""
    if r.get("others") is not None:
        text = f"{r['others']:.2f}"
    elif r.get("load1") is not None:
        text = f"load1 {r['load1']:.1f}"
    else:
        text = "?"
    if r.get("stalls"):
        text += f" ({r['stalls']} stall{'s' if r['stalls'] > 1 else ''})"
    return text + (" **BUSY**" if r.get("busy") else "")


def latest(recs, key):
    """key(record) -> record, the later record winning."""
    out = {}
    for r in recs:
        out[key(r)] = r
    return out


def grid_key(r):
    return (r["cell"], r["size"], r["dtype"], r["threads"], r["mode"], r["engine"])


def busy_note(recs):
    n = sum(1 for r in recs if r.get("busy"))
    return n, len(recs)


def banners(recs):
    """The loud lines above a table whose rows ran on a busy machine or in a smoke run."""
    L = []
    n_busy, n = busy_note(recs)
    if n_busy:
        L += [f"> **BUSY MACHINE: NOT A RECORD.** {n_busy} of {n} rows ran while other "
              f"processes used more than {BUSY_THRESHOLD} cores (marked **BUSY**). Rerun on an "
              "idle machine.", ""]
    if any(r.get("quick") for r in recs):
        L += ["> **Quick run**: a smoke run of the harness (a few rounds per row), not a "
              "measurement.", ""]
    return L

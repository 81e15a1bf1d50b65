#!/usr/bin/env bash
# The benchmark record in one command, for a quiet machine.
#
#   bench/run_all.sh                                  # everything, ~30 min on 2 cores
#   bench/run_all.sh --before /work/wt/before/src     # + the T=1 overhead, before vs this tree
#   bench/run_all.sh --smoke                          # a 2-minute check of the harness; writes
#                                                     # only under bench/runs/, never the record
#
# One benchmark at a time, in this order:
#   1. the GEMM peak and the full grid (pytest-benchmark); a row during which other processes
#      used the CPUs is refused, and the refused rows are run once more at the end
#   2. the T=1 forward overhead: this tree's src/, or --before SRC against it
#   3. profiles of the float32 1-thread misses of 1.
#   4. the GIL benchmark (bench/THREADS.md)
#   5. the generated sections of bench/RESULTS.md and bench/ratios.png, rebuilt from the JSON
#      of 1-3; the hand-written sections (the analyses) are kept.
# Before each step, and before any row that follows a busy one, it waits (up to --wait
# seconds, default 600) for other processes to leave the CPUs. The raw JSON stays in
# bench/runs/<UTC time>/. Exit status: 0 ok, 1 something raised (see RESULTS.md's Problems),
# 2 a validation mismatch (aborted).
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
invocation="bench/run_all.sh${*:+ $*}"
before="" smoke=0 wait=600 out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --before) before="$(cd "$2" && pwd)"; shift 2 ;;
        --smoke) smoke=1; shift ;;
        --wait) wait="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "run_all.sh: unknown argument $1" >&2; usage 2 ;;
    esac
done

cd "$(dirname "$0")/.."
repo="$PWD"
if ! python -c "import fastrnn" 2>/dev/null; then
    export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}"
fi
python -c "import fastrnn, sys; sys.exit(0 if fastrnn.c_engine_available() else 1)" || {
    echo "run_all.sh: the C engine is not built (python setup.py build_ext --inplace); the C" \
         "columns would be n/a and every target PENDING" >&2; exit 1; }
out="${out:-$repo/bench/runs/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
export FASTRNN_BENCH_WRAPPER="$invocation"
status=0

if [ "$smoke" = 1 ]; then
    results="$out/RESULTS.md"; plot="$out/ratios.png"; threads_md="$out/THREADS.md"
    cp bench/RESULTS.md "$results"
    grid=(--bench-grid=smoke --benchmark-max-time=0.01 --benchmark-min-rounds=3)
    quick=(--quick); overhead_k=(-- -k H16); gil=(--T 50 --repeats 2); wait=1
else
    results="$repo/bench/RESULTS.md"; plot="$repo/bench/ratios.png"
    threads_md="$repo/bench/THREADS.md"
    grid=(--bench-grid=full); quick=(); overhead_k=(); gil=()
fi
echo "run_all.sh: JSON in $out"

cd bench    # pytest's rootdir (bench/pytest.ini); node ids are relative to it
echo "== 1. GEMM peak and the grid"
set +e
python -m pytest test_gemm.py test_grid.py --benchmark-only "${grid[@]}" \
    --bench-wait-idle="$wait" --bench-refuse-busy --benchmark-json="$out/grid.json" --tb=line
rc=$?
set -e
if [ $rc -eq 2 ]; then echo "run_all.sh: validation mismatch, aborted" >&2; exit 2; fi
[ -f "$out/grid.json" ] || { echo "run_all.sh: pytest wrote no JSON (status $rc)" >&2; exit 1; }
jsons=("$out/grid.json")
mapfile -t refused < <(python -m fastrnn_bench.records refused "$out/grid.json")
if [ ${#refused[@]} -gt 0 ]; then
    echo "== 1b. ${#refused[@]} rows refused as busy: once more (kept, marked, if still busy)"
    set +e
    python -m pytest "${refused[@]}" --benchmark-only "${grid[@]}" --bench-wait-idle="$wait" \
        --benchmark-json="$out/grid-rerun.json"
    rc=$?
    set -e
    if [ $rc -eq 2 ]; then echo "run_all.sh: validation mismatch, aborted" >&2; exit 2; fi
    [ -f "$out/grid-rerun.json" ] && jsons+=("$out/grid-rerun.json")
fi
# an engine that raised (not a refusal) makes the whole run's status 1
python -m fastrnn_bench.records problems "${jsons[@]}" || status=1

echo "== 2. T=1 overhead"
if [ -n "$before" ]; then
    trees=(--tree "before=$before" --tree "after=$repo/src")
else
    trees=(--tree "this tree=$repo/src")
fi
python overhead.py "${trees[@]}" --repeat 2 --wait-idle "$wait" "${quick[@]}" \
    --json "$out/overhead.json" --no-write "${overhead_k[@]}" > "$out/overhead.log" || status=1
tail -n 5 "$out/overhead.log"
[ -f "$out/overhead.json" ] && jsons+=("$out/overhead.json")

echo "== 3. profiles of the misses"
python -m fastrnn_bench.profile --misses-from "$out"/grid*.json --json "$out/profiles.json" \
    > "$out/profiles.log" || status=1
jsons+=("$out/profiles.json")

echo "== 4. GIL release (THREADS.md)"
python bench_threads.py --wait-idle "$wait" "${gil[@]}" --out "$threads_md" || status=1

echo "== 5. RESULTS.md"
python -m fastrnn_bench.report "${jsons[@]}" --results "$results" --plot "$plot" \
    | tee "$out/targets.log"
echo "run_all.sh: wrote $results, $plot and $threads_md (JSON in $out); status $status"
exit $status

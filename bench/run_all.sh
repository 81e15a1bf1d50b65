#!/usr/bin/env bash
# The benchmark record in one command, for a quiet machine.
#
#   bench/run_all.sh --before /work/wt/before/src     # everything, ~33 min on 2 cores
#   bench/run_all.sh                                  # the same without the two tables that
#                                                     # need the build before (before, the
#                                                     # overhead's before/after columns)
#   bench/run_all.sh --only streaming                 # one part (or a comma list of parts)
#   bench/run_all.sh --smoke [--only PARTS]           # a harness check, ~3 min; writes only
#                                                     # under bench/runs/, never the record
#
# The parts, one benchmark at a time, in this order (--only picks some):
#   grid       the GEMM peak and the full grid: C, NumPy, torch at 1 and 2 threads, f32 and
#              f64 (issue 3, issue 11 (a)(b)); rows during which other processes used the
#              CPUs are refused and run once more at the end
#   before     the grid's C engine at 1 thread, the --before build against this tree (11)
#   overhead   the T=1 forward overhead (issue 10; with --before: before against this tree)
#   streaming  the streaming step against PyTorch's Cell, NumPy and the memory floor (12)
#   barrier    the per-step barrier cost; bench/SCALING.md, the model past 2 cores (11 (d))
#   busy       each engine with 1 and 2 competing processes / quiet, default threads (11 (c))
#   profiles   profiles of the grid's float32 1-thread misses (needs grid)
#   gil        is the GIL released? (bench/THREADS.md)
# then the generated sections of bench/RESULTS.md (and ratios.png, SCALING.md) are rebuilt
# from the JSON of the parts that ran; every other section and the hand-written analyses
# are kept. The machine is described first (CPU, cores, ISA, thread settings, BLAS, load).
# Before each part it waits (up to --wait seconds, default 600) for other processes to
# leave the CPUs. Raw JSON and logs stay in bench/runs/<UTC time>/ (--out DIR), with each
# part's duration in durations.txt. Exit status: 0 ok, 1 something raised (see RESULTS.md's
# Problems or the part's log), 2 a validation mismatch (aborted).
set -euo pipefail

usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
ALL_PARTS="grid,before,overhead,streaming,barrier,busy,profiles,gil"
invocation="bench/run_all.sh${*:+ $*}"
before="${FASTRNN_BENCH_BEFORE:-}" smoke=0 wait=600 out="" only="$ALL_PARTS"
while [ $# -gt 0 ]; do
    case "$1" in
        --before) before="$2"; shift 2 ;;
        --smoke) smoke=1; shift ;;
        --only) only="$2"; shift 2 ;;
        --wait) wait="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "run_all.sh: unknown argument $1" >&2; usage 2 ;;
    esac
done
for part in ${only//,/ }; do
    case ",$ALL_PARTS," in *",$part,"*) ;; *)
        echo "run_all.sh: unknown part '$part' (parts: $ALL_PARTS)" >&2; exit 2 ;; esac
done
wanted() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

cd "$(dirname "$0")/.."
repo="$PWD"
if ! python -c "import fastrnn" 2>/dev/null; then
    export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}"
fi
python -c "import fastrnn, sys; sys.exit(0 if fastrnn.c_engine_available() else 1)" || {
    echo "run_all.sh: the C engine is not built (python setup.py build_ext --inplace); the C" \
         "columns would be n/a and every target PENDING" >&2; exit 1; }
if [ -n "$before" ]; then
    before="$(cd "$before" && pwd)"
    [ -d "$before/fastrnn" ] || { echo "run_all.sh: --before $before: no fastrnn package" \
                                       "there (give the old checkout's src/)" >&2; exit 2; }
elif wanted before || wanted overhead; then
    echo "run_all.sh: NOTE no --before SRC: the 'before' part is skipped and the overhead" \
         "table has this tree only (issue 11's 1-thread and issue 12's 4x targets: n/a)" >&2
fi
out="${out:-$repo/bench/runs/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export FASTRNN_BENCH_WRAPPER="$invocation"
status=0

if [ "$smoke" = 1 ]; then
    results="$out/RESULTS.md"; plot="$out/ratios.png"; threads_md="$out/THREADS.md"
    scaling_md="$out/SCALING.md"
    cp bench/RESULTS.md "$results"
    [ -f bench/SCALING.md ] && cp bench/SCALING.md "$scaling_md"
    grid=(--bench-grid=smoke --benchmark-max-time=0.01 --benchmark-min-rounds=3)
    quick=(--quick); overhead_k=(-- -k H16); gil=(--T 50 --repeats 2); wait=1
    stream=(--benchmark-max-time=0.002 --benchmark-min-rounds=1
            --benchmark-warmup-iterations=5 -k "H16 or H64")
    busy=(--quick --cells lstm --sizes 20x2x16,20x8x32)
    before_args=(--quick --repeat 1 -- --bench-cells=lstm)
else
    results="$repo/bench/RESULTS.md"; plot="$repo/bench/ratios.png"
    threads_md="$repo/bench/THREADS.md"; scaling_md="$repo/bench/SCALING.md"
    # seconds of timing per row: the grid's 1.0 (pytest-benchmark's default); 0.5 for the
    # T=1 overhead and 0.3 for the streaming step (microsecond calls, thousands of rounds;
    # pytest-benchmark's calibration and warm-up about double a row's time)
    grid=(--bench-grid=full); quick=(); overhead_k=(-- --benchmark-max-time=0.5); gil=()
    stream=(--benchmark-max-time=0.3)
    busy=()
    before_args=(--repeat 2)
fi
echo "run_all.sh: parts $only; JSON and logs in $out"
: > "$out/durations.txt"
jsons=()

# before each part: the quiet-machine check; after it: its duration
part_start() {
    echo "== $1"
    (cd bench && python -m fastrnn_bench.timing wait "$wait")
    t_part=$(date +%s)
}
part_end() { echo "$1 $(( $(date +%s) - t_part ))" >> "$out/durations.txt"; }

# A pytest part (in bench/, pytest's rootdir): rows refused as busy run once more at the end.
# pytest_part NAME FILES... -- ARGS...
pytest_part() {
    local name="$1"; shift
    local files=() args=() rc
    while [ "$1" != "--" ]; do files+=("$1"); shift; done
    shift
    args=("$@")
    set +e
    (cd bench && python -m pytest "${files[@]}" --benchmark-only "${args[@]}" \
        --bench-wait-idle="$wait" --bench-refuse-busy --benchmark-json="$out/$name.json" \
        --tb=line) > "$out/$name.log" 2>&1
    rc=$?
    set -e
    tail -n 1 "$out/$name.log"
    if [ "$rc" -eq 2 ]; then
        echo "run_all.sh: validation mismatch in $name, aborted" >&2; exit 2
    fi
    [ -f "$out/$name.json" ] || { echo "run_all.sh: $name: pytest wrote no JSON (status $rc;" \
                                       "see $out/$name.log)" >&2; exit 1; }
    jsons+=("$out/$name.json")
    local refused
    mapfile -t refused < <(cd bench && python -m fastrnn_bench.records refused \
                           "$out/$name.json" | sed '/^$/d; s|^bench/||')
    if [ ${#refused[@]} -gt 0 ]; then
        echo "   ${#refused[@]} rows refused as busy: once more (kept, marked, if still busy)"
        set +e
        (cd bench && python -m pytest "${refused[@]}" --benchmark-only "${args[@]}" \
            --bench-wait-idle="$wait" --benchmark-json="$out/$name-rerun.json") \
            >> "$out/$name.log" 2>&1
        rc=$?
        set -e
        if [ $rc -eq 2 ]; then echo "run_all.sh: validation mismatch, aborted" >&2; exit 2; fi
        [ -f "$out/$name-rerun.json" ] && jsons+=("$out/$name-rerun.json")
    fi
    # an engine that raised (not a refusal) makes the whole run's status 1
    (cd bench && python -m fastrnn_bench.records problems "$out/$name"*.json) > /dev/null \
        || status=1
}

echo "== the machine"
(cd bench && python -m fastrnn_bench.machine --json "$out/machine.json")
jsons+=("$out/machine.json")

if wanted grid; then
    part_start "grid: GEMM peak and the full grid, 1 and 2 threads"
    pytest_part grid test_gemm.py test_grid.py -- "${grid[@]}"
    part_end grid
fi

if wanted before && [ -n "$before" ]; then
    part_start "before: the C engine at 1 thread, $before against this tree"
    (cd bench && python before.py --tree "before=$before" --tree "today=$repo/src" \
        --wait-idle "$wait" --json "$out/before.json" --no-write "${before_args[@]}") \
        > "$out/before.log" 2>&1 || status=1
    tail -n 3 "$out/before.log"
    [ -f "$out/before.json" ] && jsons+=("$out/before.json")
    part_end before
fi

if wanted overhead; then
    part_start "overhead: T=1 forward"
    if [ -n "$before" ]; then
        trees=(--tree "before=$before" --tree "today=$repo/src")
    else
        trees=(--tree "this tree=$repo/src")
    fi
    (cd bench && python overhead.py "${trees[@]}" --repeat 2 --wait-idle "$wait" "${quick[@]}" \
        --json "$out/overhead.json" --no-write "${overhead_k[@]}") > "$out/overhead.log" 2>&1 \
        || status=1
    tail -n 3 "$out/overhead.log"
    [ -f "$out/overhead.json" ] && jsons+=("$out/overhead.json")
    part_end overhead
fi

if wanted streaming; then
    part_start "streaming: one step with carried state, the memory floor"
    pytest_part streaming test_streaming.py -- "${stream[@]}"
    part_end streaming
fi

if wanted barrier; then
    part_start "barrier: the per-step barrier cost (SCALING.md)"
    (cd bench && python barrier.py --json "$out/barrier.json" "${quick[@]}") \
        > "$out/barrier.log" 2>&1 || status=1
    tail -n 3 "$out/barrier.log"
    [ -f "$out/barrier.json" ] && jsons+=("$out/barrier.json")
    part_end barrier
fi

if wanted busy; then
    part_start "busy: 1 and 2 competing processes, default threads"
    (cd bench && python busy.py --json "$out/busy.json" --no-write "${busy[@]}") \
        > "$out/busy.log" 2>&1 || status=1
    grep "competitor" "$out/busy.log" | tail -n 3 || true
    [ -f "$out/busy.json" ] && jsons+=("$out/busy.json")
    part_end busy
fi

if wanted profiles && [ -f "$out/grid.json" ]; then
    part_start "profiles of the grid's float32 1-thread misses"
    (cd bench && python -m fastrnn_bench.profile --misses-from "$out"/grid*.json \
        --json "$out/profiles.json") > "$out/profiles.log" 2>&1 || status=1
    [ -f "$out/profiles.json" ] && jsons+=("$out/profiles.json")
    part_end profiles
fi

if wanted gil; then
    part_start "gil: is the GIL released? (THREADS.md)"
    (cd bench && python bench_threads.py --wait-idle "$wait" "${gil[@]}" --out "$threads_md") \
        > "$out/gil.log" 2>&1 || status=1
    tail -n 2 "$out/gil.log"
    part_end gil
fi

echo "== RESULTS.md"
report=(--results "$results" --plot "$plot" --scaling "$scaling_md")
if [ -f "$out/barrier.json" ] && [ ! -f "$out/grid.json" ]; then
    # SCALING.md's model needs the grid's 1-thread C times: the newest full grid run's
    earlier="$(cd bench && python -m fastrnn_bench.records latest-grid "$repo/bench/runs" "$out")"
    if [ -n "$earlier" ]; then
        echo "   SCALING.md: work per step from $earlier"
        report+=(--scaling-grid "$earlier")
    fi
fi
(cd bench && python -m fastrnn_bench.report "${jsons[@]}" "${report[@]}") | tee "$out/targets.log"
echo "run_all.sh: durations (s):" $(tr '\n' ' ' < "$out/durations.txt")
echo "run_all.sh: wrote $results (and what the parts rebuilt: $plot, $scaling_md," \
     "$threads_md); JSON in $out; status $status"
exit $status

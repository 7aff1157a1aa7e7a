#!/usr/bin/env bash
# Runs the model and text-encoder benchmarks once per backend, each (bench, backend) pair in its
# own process under /usr/bin/time -v, and prints criterion's medians with each process's peak
# resident memory. This is the run behind the per-backend table of docs/performance.md.
#
#   bash benches/backends.sh                      # every bench, flex and ndarray
#   ERC_BENCH_BACKENDS=flex bash benches/backends.sh mm_dfn multiemo
#
# ERC_BENCH_BACKENDS (comma-separated, as for the benches themselves) names the backends, one
# process each. Logs go to target/bench-backends/<bench>.<backend>.{log,time}. A whole run took
# 43 min on the 2-core machine (2026-11-22); nothing else should run meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."

benches=("$@")
[ ${#benches[@]} -eq 0 ] && benches=(mm_dfn multiemo maln facialmmt text_encoder)
IFS=, read -r -a backends <<< "${ERC_BENCH_BACKENDS:-flex,ndarray}"
out="${CARGO_TARGET_DIR:-target}/bench-backends"
mkdir -p "$out"
command -v /usr/bin/time >/dev/null || { echo "backends.sh: /usr/bin/time is needed (Debian: apt-get install time)" >&2; exit 2; }

# Build once, before anything is timed.
cargo bench --workspace --features ndarray --no-run --quiet

for bench in "${benches[@]}"; do
    for backend in "${backends[@]}"; do
        log="$out/$bench.$backend.log"
        echo "== $bench on $backend ($(date +%T))"
        ERC_BENCH_BACKENDS="$backend" /usr/bin/time -v -o "$out/$bench.$backend.time" \
            cargo bench --workspace --features ndarray --quiet --bench "$bench" -- --noplot --warm-up-time 2 > "$log"
        # "<group>/<backend>/<workload>" then "time: [low median high]"
        awk '/^[A-Za-z0-9_.-]+\/[a-z]+\/[A-Za-z0-9_.-]+$/ { id = $1 } /^ +time:/ && id != "" { print "   " id ": median " $4 " " $5; id = "" }' "$log"
        grep -E "Maximum resident" "$out/$bench.$backend.time" | sed 's/^\s*/   /'
    done
done
echo "== done ($(date +%T)); logs in $out"

#!/bin/bash
# Runs every libFuzzer harness of tests/fuzz for SECONDS (default 60) each and says what it
# found. Usage (from anywhere):
#
#   tests/fuzz/run.sh [BUILD_DIR [SECONDS]]      # BUILD_DIR defaults to build/fuzz
#
# BUILD_DIR is configured with the `fuzz` preset when it has no CMakeCache.txt yet (only for
# the preset's own directory, build/fuzz), and the harnesses are (re)built first with
# NM_FUZZ_JOBS parallel jobs (default 1), at nice 10. Each harness starts from a working copy
# of its checked-in corpus (tests/fuzz/corpus/<harness>, never written to) in a temporary
# directory; crash, timeout, leak and out-of-memory inputs land in
# $NM_FUZZ_ARTIFACTS/<harness>/ (default: a kept temporary directory, printed).
# NM_FUZZ_KEEP_CORPUS=DIR copies each grown corpus to DIR/<harness> at the end;
# NM_FUZZ_FLAGS adds libFuzzer flags to every harness (after the script's own, so they win).
#
# Exit status: 0 when no harness found anything; 1 when any crashed, hung, leaked, ran out
# of memory or printed a sanitizer report; 2 on usage or build errors.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build/fuzz}
seconds=${2:-60}
jobs=${NM_FUZZ_JOBS:-1}
case $seconds in '' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac

# harness:max_len (bytes). Text needs more than the loader's 4096-byte minimum; the run-file
# programs are short (each operation takes a few bytes), and slow to run (each builds and
# reads a file), so they may use their whole length from the start (-len_control=0).
harnesses=(fuzz_config:4096 fuzz_idx:2048 fuzz_text:12288 fuzz_runfile:384)
declare -A options=([fuzz_runfile]="-len_control=0")

if [ ! -f "$build/CMakeCache.txt" ]; then
    if [ "$(realpath -m "$build")" != "$(realpath -m "$root/build/fuzz")" ]; then
        echo "run.sh: $build is not a configured build directory; configure it with NM_FUZZ=ON (or use build/fuzz)" >&2
        exit 2
    fi
    (cd "$root" && nice -n 10 cmake --preset fuzz) || { echo "run.sh: configuring the fuzz preset failed" >&2; exit 2; }
fi
build=$(cd "$build" && pwd)
targets=()
for h in "${harnesses[@]}"; do targets+=("${h%%:*}"); done
nice -n 10 cmake --build "$build" -j "$jobs" --target "${targets[@]}" ||
    { echo "run.sh: building the harnesses failed" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/nmfuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts=${NM_FUZZ_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/nmfuzz-artifacts.XXXXXX")}
mkdir -p "$artifacts"
artifacts=$(cd "$artifacts" && pwd)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
summary=()
for entry in "${harnesses[@]}"; do
    name=${entry%%:*}
    maxlen=${entry##*:}
    bin=$build/tests/fuzz/$name
    if [ ! -x "$bin" ]; then
        echo "run.sh: $bin is missing" >&2
        exit 2
    fi
    corpus=$work/corpus/$name
    mkdir -p "$corpus" "$artifacts/$name"
    cp -r "$here/corpus/$name/." "$corpus/"
    read -r -a extra <<<"${options[$name]:-}"
    [ -f "$here/$name.dict" ] && extra+=("-dict=$here/$name.dict")
    read -r -a user_flags <<<"${NM_FUZZ_FLAGS:-}"
    extra+=("${user_flags[@]}")
    log=$artifacts/$name.log
    echo "== $name: ${seconds}s, max_len $maxlen (log: $log)"
    (cd "$work" && exec "$bin" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$maxlen" -artifact_prefix="$artifacts/$name/" -print_final_stats=1 "${extra[@]}") >"$log" 2>&1 &
    pid=$!
    wait "$pid"
    rc=$?
    # libFuzzer ends with _Exit: remove the harness's scratch file and libomp's registration file.
    rm -f /dev/shm/nmfuzz-"$pid".* /dev/shm/__KMP_REGISTERED_LIB_"$pid"_0
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    corpus_files=$(find "$corpus" -type f | wc -l)
    found=$(find "$artifacts/$name" -type f | wc -l)
    reports=$(grep -cE '^(==[0-9]+==ERROR|SUMMARY: (Address|Undefined|Leak)Sanitizer)|runtime error:|ERROR: libFuzzer' "$log")
    status=clean
    if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ] || [ "$reports" -gt 0 ]; then
        status="FOUND (exit $rc, $found artifact(s), $reports report line(s)):"
        status+=" $(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): .*|runtime error: .*|^fuzz_[a-z]*: .*' "$log" | head -1 | cut -c1-160)"
        failed=1
    fi
    if [ -n "${NM_FUZZ_KEEP_CORPUS:-}" ]; then
        mkdir -p "$NM_FUZZ_KEEP_CORPUS/$name" && cp -r "$corpus/." "$NM_FUZZ_KEEP_CORPUS/$name/"
    fi
    line=$(printf '%-13s executions %-9s corpus %-5s %s' "$name" "${execs:-?}" "$corpus_files" "$status")
    echo "$line"
    summary+=("$line")
done

echo
echo "== summary (${seconds}s each; artifacts and logs in $artifacts)"
printf '%s\n' "${summary[@]}"
exit $failed

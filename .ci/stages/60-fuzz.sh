#!/usr/bin/env bash
# libFuzzer over every fuzz target (tests/fuzz), each for a bounded time from its seed corpus,
# two at a time. Any crash, leak, sanitizer report or broken invariant fails the stage and its
# reproducer is printed (hex) with the command to replay it.
set -uo pipefail
out=$1
seconds=${FUZZ_SECONDS:-20}
build=build-fuzz

if ! command -v clang++ >/dev/null || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
    apt-get install -y --no-install-recommends clang libclang-rt-14-dev >"$out.apt" 2>&1 || {
        tail -20 "$out.apt"; exit 1; }
fi

targets=$(sed -n "s/^  '\(fuzz_[a-z_]*\)',$/\1/p" tests/fuzz/meson.build)
{ [ -d "$build" ] || CC=clang CXX=clang++ meson setup "$build" -Dfuzz=enabled; } >"$out.setup" 2>&1 \
    && ninja -C "$build" $(for t in $targets; do echo "tests/fuzz/$t"; done) >"$out.build" 2>&1
if [ $? -ne 0 ]; then
    tail -n 50 "$out.setup" "$out.build"
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_one() {
    local t=$1
    mkdir -p "$work/$t.corpus"
    if "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$work/$t-" \
            "$work/$t.corpus" "tests/fuzz/corpus/$t" >"$work/$t.log" 2>&1; then
        echo "$t: ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$') runs)"
    else
        echo "$t: FAILED"
        tail -60 "$work/$t.log"
        for f in "$work/$t"-*; do
            [ -f "$f" ] || continue
            echo "reproducer $f:"; od -A x -t x1z -v "$f" | head -40
            echo "replay: $build/tests/fuzz/$t FILE   (add it to tests/fuzz/corpus/$t/ as a regression)"
        done
        return 1
    fi
}
export -f run_one
export work build seconds
echo "$targets" | xargs -P 2 -I{} bash -c 'run_one {}' 2>&1 | tee "$out.runs"
status=${PIPESTATUS[1]}
# Counted by .ci/run like meson's summary: one per target.
{ cat "$out.runs"; echo; echo "Ok: $(grep -c ': ok (' "$out.runs")"; echo "Fail: $(grep -c ': FAILED$' "$out.runs")"; } >"$out"
tail -2 "$out"
exit "$status"

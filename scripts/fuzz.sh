#!/usr/bin/env bash
# fuzz.sh — longer libFuzzer runs of the native fuzz targets (native/fuzz/), with
# AddressSanitizer and UBSan. Needs clang (Debian: apt-get install clang).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); TARGETs default to all: fuzz_frames,
# fuzz_rx_packet, fuzz_receive_transfer. Builds into build-fuzz-libfuzzer/ (override:
# JETRECV_FUZZ_BUILD_DIR), seeds the corpus in that dir from each target's built-in
# seeds plus native/fuzz/corpus/<target>/ if it exists, and runs with -jobs=1 per
# target (JETRECV_FUZZ_JOBS to change). A crash leaves crash-* / leak-* / timeout-*
# files in the build dir and stops the script with a non-zero exit; copy the input
# into native/fuzz/corpus/<target>/ so ctest replays it from then on.
# The bounded run that is part of the test suite is the ctest '<target>_smoke'.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(fuzz_frames fuzz_rx_packet fuzz_receive_transfer); fi
build="${JETRECV_FUZZ_BUILD_DIR:-build-fuzz-libfuzzer}"
jobs="${JETRECV_FUZZ_JOBS:-1}"
supp="$PWD/native/fuzz/lsan.supp"
if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ not found; install clang (apt-get install clang)" >&2
  exit 2
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DJETRECV_FUZZ=ON >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=("$t" "${t}_libfuzzer"); done
cmake --build "$build" --parallel 2 --target "${build_targets[@]}"
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  "$build/$t" --write-seeds="$corpus" >/dev/null
  extra=()
  if [ -d "native/fuzz/corpus/$t" ]; then extra+=("$PWD/native/fuzz/corpus/$t"); fi
  parallel=()
  if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi
  echo "== $t: ${seconds}s"
  (cd "$build" && LSAN_OPTIONS="suppressions=$supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
      "./${t}_libfuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 "${parallel[@]}" "corpus/$t" "${extra[@]}")
done

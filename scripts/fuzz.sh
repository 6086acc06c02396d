#!/usr/bin/env bash
# Builds the libFuzzer targets of the checkpoint (safetensors) reader and the
# batch reader with clang, AddressSanitizer and UndefinedBehaviorSanitizer,
# and runs each for a bounded time on a copy of its seed corpus.
#   scripts/fuzz.sh [seconds per target, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
out=build-fuzz
mkdir -p "$out"
flags=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I.)
for target in safetensors batch; do
  sources=(train/formats/safetensors.cpp train/formats/safetensors_parse.cpp)
  [ "$target" = batch ] && sources+=(train/formats/batch_file.cpp)
  clang++ "${flags[@]}" "fuzz/fuzz_$target.cpp" "${sources[@]}" -o "$out/fuzz_$target"
  rm -rf "$out/corpus_$target"
  cp -r "fuzz/corpus_$target" "$out/corpus_$target"
  echo "== fuzzing the $target reader for ${seconds}s"
  rc=0
  "$out/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 "$out/corpus_$target" \
    >"$out/fuzz_$target.log" 2>&1 || rc=$?
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY)" "$out/fuzz_$target.log" || true
  # libFuzzer exits non-zero on a crash, a leak or a sanitizer report
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: the $target reader failed (exit $rc); the input is in $out/ (crash-*), the log in $out/fuzz_$target.log"
    echo "fuzz: 0 passed, 1 failed"
    exit 1
  fi
done
echo "fuzz: 2 passed, 0 failed"

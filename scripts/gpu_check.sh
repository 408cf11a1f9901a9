#!/usr/bin/env bash
# gpu_check.sh — everything the GPU engine needs proven on a GPU machine, in
# one go: configure + build for sm_90a, the GPU tests, compute-sanitizer
# (memcheck + racecheck) on a small run, and the benchmark. Logs and results
# go to $OUT (default ./gpu-check-out). Stages can be picked:
#   scripts/gpu_check.sh [build] [test] [apitests] [sanitize] [bench] [profile]
#                        [--bench-args "..."]
# With no stage named, build test sanitize bench run (apitests: the C-API
# suites forced onto the GPU engine; profile: Nsight Compute kernel times). Exit status: the first failing stage's.
set -u -o pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-check-out}"
BUILD="${FKM_GPU_BUILD:-$ROOT/build-gpu-check}"
JOBS="${FKM_JOBS:-$(nproc)}"
mkdir -p "$OUT"
stages=()
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bench-args) read -r -a bench_args <<<"$2"; shift 2 ;;
    *) stages+=("$1"); shift ;;
  esac
done
[ ${#stages[@]} -eq 0 ] && stages=(build test sanitize bench)
has() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
status=0
note() { printf '== %s\n' "$*" | tee -a "$OUT/summary.txt"; }

if has build; then
  note "build ($BUILD, sm_90a, -j$JOBS)"
  { nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
    cmake -S "$ROOT" -B "$BUILD" -DFLASHKM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a \
      -DFLASHKM_TESTS=ON -DFLASHKM_BENCH=ON -DFLASHKM_FAISS_BRIDGE=OFF \
      -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$BUILD" -j"$JOBS" --target flashkm_gpu_tests flashkm_bench; } \
    >"$OUT/build.log" 2>&1 || { note "BUILD FAILED"; tail -40 "$OUT/build.log"; exit 1; }
  grep -E "spill|warning" "$OUT/build.log" | head -20
fi

if has test; then
  note "GPU tests"
  timeout 400 "$BUILD/tests/flashkm_gpu_tests" --gtest_color=no >"$OUT/gpu_tests.log" 2>&1 || status=1
  grep -E "^\[  (FAILED|PASSED|SKIPPED) |tests ran|Failure|Expected|Which is|actual|error" \
    "$OUT/gpu_tests.log" | head -60
fi

if has apitests; then # the C-API suites, forced onto the GPU engine
  note "API / error / thread / reference suites with FKM_TEST_ENGINE=gpu"
  cmake --build "$BUILD" -j"$JOBS" --target flashkm_api_tests flashkm_error_tests \
    flashkm_thread_tests flashkm_reference_tests >>"$OUT/build.log" 2>&1 || note "apitests build FAILED"
  for t in flashkm_api_tests flashkm_error_tests flashkm_thread_tests flashkm_reference_tests; do
    FKM_TEST_ENGINE=gpu timeout 300 "$BUILD/tests/$t" --gtest_color=no >>"$OUT/api_tests.log" 2>&1 ||
      { status=1; note "$t FAILED"; }
  done
  grep -E "^\[  (FAILED|PASSED) |tests ran" "$OUT/api_tests.log" | head -40
fi

if has sanitize; then
  note "compute-sanitizer memcheck + racecheck (small runs)"
  small="GpuEngine.SplitsEmptyClustersAsTheCpuEngine:GpuEngine.BatchEqualsSeparateRuns:GpuDevice.DeviceInputWithNaNIsRejected"
  for tool in memcheck racecheck; do
    timeout 240 compute-sanitizer --tool "$tool" --error-exitcode 3 \
      "$BUILD/tests/flashkm_gpu_tests" --gtest_filter="$small" --gtest_color=no \
      >>"$OUT/sanitizer.log" 2>&1 || { status=1; note "$tool FAILED"; }
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED" "$OUT/sanitizer.log" | tail -4
  done
fi

if has bench; then
  note "benchmark"
  timeout 400 "$BUILD/bench/flashkm_bench" --json "$OUT/bench.json" "${bench_args[@]}" \
    2>&1 | tee "$OUT/bench.log" || status=1
  python3 "$ROOT/bench/plot_bench.py" "$OUT/bench.json" "$OUT/bench.png" 2>>"$OUT/bench.log" ||
    echo "(no plot)"
fi
if has profile; then # per-kernel times of a few iterations (Nsight Compute)
  note "profile: kernel durations, ivf-1M-1k-like shapes"
  for shp in 1,1048576,128,1024,f16 1,1048576,128,1024,f32; do
    timeout 200 ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
      "$BUILD/bench/flashkm_bench" --no-ceilings --iters 3 --custom "$shp" >>"$OUT/profile.log" 2>&1
  done
  grep -E "^  [a-zA-Z_].*\(|gpu__time_duration|custom" "$OUT/profile.log" | head -80
fi
note "exit $status"
exit $status

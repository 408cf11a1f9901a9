#!/usr/bin/env bash
# gpu_check.sh — everything the GPU engine needs proven on a GPU machine, in
# one go: configure + build for sm_90a, the GPU tests, compute-sanitizer,
# the reliability tests, and the benchmark. Logs and results go to $OUT
# (default ./gpu-check-out). Stages can be picked:
#   scripts/gpu_check.sh [build] [test] [apitests] [sanitize] [reliability]
#                        [plugin] [mainjob] [bench] [coldstart] [profile]
#                        [--bench-args "..."]
# With no stage named, build test sanitize bench run. apitests: the C-API
# suites forced onto the GPU engine; sanitize: compute-sanitizer memcheck,
# synccheck and racecheck over the GPU test suite; reliability: a CUDA
# failure at every CUDA call, 1000 calls, device memory flat; plugin (needs
# the FAISS kit, scripts/faiss_kit.sh, carried as .carry/faiss-kit or named
# by FKM_FAISS_KIT): the plugin's GPU out-of-memory fallback, CUDA failures
# through the plugin, and FKM_LOAD_SECONDS (300) of 16-thread load on the
# GPU; mainjob: scripts/main_job.sh --full with the plugin built here (the
# kit too); coldstart: the phases of a first training from host memory
# (bench/cold_start.c); profile: Nsight Compute kernel times. Exit status: 1 if any failed.
set -u -o pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-check-out}"
BUILD="${FKM_GPU_BUILD:-$ROOT/build-gpu-check}"
KIT="${FKM_FAISS_KIT:-$ROOT/.carry/faiss-kit}"
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
  bridge=(-DFLASHKM_FAISS_BRIDGE=OFF)
  targets=(flashkm_gpu_tests flashkm_bench flashkm_cold_start flashkm_reliability_device_faults)
  if [ -d "$KIT/lib" ]; then # FAISS for the plugin's stage, from the kit
    bridge=(-DFLASHKM_FAISS_BRIDGE=ON -DFLASHKM_FAISS_PREFIX="$KIT"
            "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$KIT/lib -Wl,-rpath,$KIT/lib"
            "-DCMAKE_CXX_FLAGS=-include cstdint") # FAISS 1.7.3's headers miss it for gcc >= 13
    targets+=(flashkm_faiss flashkm_faiss_faulty flashkm_plugin_faults flashkm_plugin_gpu_oom
              flashkm_plugin_load ivf_train_compare faiss_c_app faiss_cxx_app)
  fi
  { nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
    cmake -S "$ROOT" -B "$BUILD" -DFLASHKM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a \
      -DFLASHKM_TESTS=ON -DFLASHKM_BENCH=ON "${bridge[@]}" \
      -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}"; } \
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
  # memcheck and synccheck: the whole GPU suite. racecheck instruments every
  # shared-memory access: the whole suite but its two largest shapes
  # (K = 65536, d = 2048), whose kernels are the same code as the others'.
  big="GpuPrecision.K65536AssignsAsTheCpuEngine:GpuPrecision.D2048AssignMatchesReference"
  for tool in memcheck synccheck racecheck; do
    filter="*"
    [ "$tool" = racecheck ] && filter="-$big"
    note "compute-sanitizer --tool $tool, GPU suite, filter $filter"
    timeout "${FKM_SANITIZE_TIMEOUT:-480}" compute-sanitizer --tool "$tool" --error-exitcode 3 \
      "$BUILD/tests/flashkm_gpu_tests" --gtest_filter="$filter" --gtest_color=no \
      >"$OUT/sanitizer-$tool.log" 2>&1 || { status=1; note "$tool FAILED (exit $?)"; }
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|^\[  (PASSED|FAILED|SKIPPED) |tests ran" \
      "$OUT/sanitizer-$tool.log" | tail -5
  done
fi

if has reliability; then
  note "reliability: a CUDA failure at every CUDA call, 1000 calls"
  timeout 400 "$BUILD/tests/reliability/flashkm_reliability_device_faults" --gtest_color=no \
    >"$OUT/reliability.log" 2>&1 || { status=1; note "device faults FAILED"; }
  grep -E "^\[ reliability|^\[  (PASSED|FAILED|SKIPPED) |Failure|Expected|Which is" \
    "$OUT/reliability.log" | head -20
fi

if has plugin; then
  if [ ! -x "$BUILD/faiss_bridge/libflashkm_faiss.so" ] && [ ! -f "$BUILD/faiss_bridge/libflashkm_faiss.so" ]; then
    note "plugin: no plugin built (no FAISS kit at $KIT)"; status=1
  else
    rel="$BUILD/tests/reliability"
    plug="$BUILD/faiss_bridge/libflashkm_faiss.so"
    export LD_LIBRARY_PATH="$KIT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    note "plugin: GPU out-of-memory (FLASHKM_GPU_MEMORY_LIMIT) falls back to FAISS"
    LD_PRELOAD="$plug" FLASHKM_ENGINE=gpu FLASHKM_VERBOSE=1 timeout 120 "$rel/flashkm_plugin_gpu_oom" \
      >"$OUT/plugin.log" 2>&1 || { status=1; note "gpu oom FAILED"; }
    note "plugin: CUDA failures mid-call through the plugin, 1000 calls"
    LD_PRELOAD="$rel/libflashkm_faiss_faulty.so" FLASHKM_ENGINE=gpu timeout 400 \
      "$rel/flashkm_plugin_faults" --calls 1000 --device >>"$OUT/plugin.log" 2>&1 ||
      { status=1; note "device faults through the plugin FAILED"; }
    note "plugin: 16 threads on the GPU engine for ${FKM_LOAD_SECONDS:-300} s"
    LD_PRELOAD="$plug" FLASHKM_ENGINE=gpu FLASHKM_VERBOSE=1 OMP_NUM_THREADS=1 \
      OPENBLAS_NUM_THREADS=1 timeout $(( ${FKM_LOAD_SECONDS:-300} + 200 )) \
      "$rel/flashkm_plugin_load" --threads 16 --duration "${FKM_LOAD_SECONDS:-300}" \
      >>"$OUT/plugin.log" 2>&1 || { status=1; note "GPU load FAILED"; }
    grep -vE "^stderr|WARNING clustering" "$OUT/plugin.log" | grep -E "plugin_|PASS|FAIL|SKIP|load" | head -40
  fi
fi

if has mainjob; then # the README's main job, full size, with the plugin built here
  note "main job: IVF4096,Flat on 1M x 128, FAISS vs FAISS + flashkm (GPU)"
  pre="$BUILD/prebuilt"
  mkdir -p "$pre" && cp "$BUILD/faiss_bridge/libflashkm_faiss.so" \
    "$BUILD/tests/faiss_apps/ivf_train_compare" "$KIT/lib/"*.so* "$pre/" &&
    timeout 560 "$ROOT/scripts/main_job.sh" --full --prebuilt "$pre" 2>&1 | tee "$OUT/main_job.txt" ||
    { status=1; note "main job FAILED"; }
fi

if has bench; then
  note "benchmark"
  timeout 400 "$BUILD/bench/flashkm_bench" --json "$OUT/bench.json" "${bench_args[@]}" \
    2>&1 | tee "$OUT/bench.log" || status=1
  python3 "$ROOT/bench/plot_bench.py" "$OUT/bench.json" "$OUT/bench.png" 2>>"$OUT/bench.log" ||
    echo "(no plot)"
fi
if has coldstart; then # the phases of a first training from host memory
  note "cold start: 1M x 128, k 4096, 10 iterations, from pageable host memory"
  timeout 120 "$BUILD/bench/flashkm_cold_start" 2>&1 | tee "$OUT/cold_start.txt" || status=1
  note "the same, every value + 20 (data far from the origin)"
  timeout 120 "$BUILD/bench/flashkm_cold_start" 1000000 128 4096 10 20 2>&1 | grep -v "^host copy" |
    tee -a "$OUT/cold_start.txt" || status=1
fi

if has profile; then # per-kernel times of a few iterations (Nsight Compute)
  # FKM_PROFILE: shape:precision pairs of flashkm_bench (default ivf-1M-1k)
  for sp in ${FKM_PROFILE:-ivf-1M-1k:fp16 ivf-1M-1k:tf32}; do
    note "profile: kernel durations, ${sp%%:*} ${sp##*:}"
    timeout 200 ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
      "$BUILD/bench/flashkm_bench" --no-ceilings --iters 3 --shape "${sp%%:*}" --prec "${sp##*:}" \
      >"$OUT/profile-${sp%%:*}-${sp##*:}.log" 2>&1
    grep -E "^  [a-zA-Z_].*\(|gpu__time_duration|ratio" "$OUT/profile-${sp%%:*}-${sp##*:}.log" | head -60
  done
fi
note "exit $status"
exit $status

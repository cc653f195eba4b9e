#!/usr/bin/env bash
# Native CUDA checks for a GPU machine (see ../shared/GPU.md): one go that
# builds with plain CMake for sm_90, runs every ctest (CPU and CUDA), runs the
# CUDA test under compute-sanitizer, keeps full logs under $OUT and prints a
# short table last. Needs cmake, nvcc and compute-sanitizer; no Node.
#
#   OUT=/some/dir cuda/run-gpu-checks.sh        # from the repository root
#
# Environment:
#   OUT            log folder (default /tmp/addernet-gpu-logs)
#   BUILD_DIR      build folder (default /tmp/addernet-gpu-build)
#   CUDA_ARCHS     CMAKE_CUDA_ARCHITECTURES (default 90)
#   JOBS           build parallelism (default: number of CPUs)
#   SANITIZER_SHAPES  random layer shapes per sanitizer tool (default 8)
#   SANITIZER_TOOLS   compute-sanitizer tools (default "memcheck racecheck synccheck initcheck")
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-/tmp/addernet-gpu-logs}"
BUILD_DIR="${BUILD_DIR:-/tmp/addernet-gpu-build}"
CUDA_ARCHS="${CUDA_ARCHS:-90}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 4)}"
SANITIZER_SHAPES="${SANITIZER_SHAPES:-8}"
SANITIZER_TOOLS="${SANITIZER_TOOLS:-memcheck racecheck synccheck initcheck}"
mkdir -p "$OUT"
cd "$ROOT"

declare -a NAMES=() RESULTS=() SECONDS_TAKEN=()
record() { NAMES+=("$1"); RESULTS+=("$2"); SECONDS_TAKEN+=("$3"); }

# step NAME LOGFILE COMMAND...: runs a command with its output in LOGFILE.
step() {
  local name="$1" log="$OUT/$2"
  shift 2
  echo "== $name: $*" | tee "$log"
  local t0=$SECONDS rc
  "$@" >>"$log" 2>&1
  rc=$?
  local dt=$((SECONDS - t0))
  if [ $rc -eq 0 ]; then record "$name" "ok" "$dt"; else record "$name" "FAILED (rc $rc)" "$dt"; fi
  tail -n 3 "$log"
  return $rc
}

{
  echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit:  $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "changes: $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l | tr -d ' ') uncommitted paths"
  echo "host:    $(uname -srm), $(nproc) CPUs"
  echo "nvcc:    $(nvcc --version 2>/dev/null | tail -n 1)"
  echo "cmake:   $(cmake --version | head -n 1)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw \
    --format=csv 2>&1 || echo "nvidia-smi failed"
} | tee "$OUT/environment.txt"

GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
step "configure" configure.log cmake -S "$ROOT" -B "$BUILD_DIR" ${GEN[@]+"${GEN[@]}"} -DCMAKE_BUILD_TYPE=Release \
  -DADDERNET_TESTS=ON -DADDERNET_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS" || true
if step "build" build.log cmake --build "$BUILD_DIR" -j "$JOBS"; then
  step "ctest (all)" ctest.log ctest --test-dir "$BUILD_DIR" --output-on-failure || true
  # The CUDA test on its own, verbose: a skip here means the GPU was not seen.
  step "cuda test" cuda-test.log "$BUILD_DIR/addernet_cuda_tests" || true
  if grep -q "^skipped: no CUDA device" "$OUT/cuda-test.log"; then
    NAMES[${#NAMES[@]}-1]="cuda test"; RESULTS[${#RESULTS[@]}-1]="SKIPPED: no device seen"
  fi

  SAN="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
  if [ -x "$SAN" ]; then
    for tool in $SANITIZER_TOOLS; do
      step "sanitizer $tool" "sanitizer-$tool.log" env ADDERNET_CUDA_TEST_SHAPES="$SANITIZER_SHAPES" \
        "$SAN" --tool "$tool" --error-exitcode 99 "$BUILD_DIR/addernet_cuda_tests" || true
    done
  else
    record "compute-sanitizer" "NOT FOUND" 0
  fi
fi

{
  echo
  echo "---------------------------------------------------------------"
  printf "%-22s %-28s %s\n" "step" "result" "seconds"
  for i in "${!NAMES[@]}"; do
    printf "%-22s %-28s %s\n" "${NAMES[$i]}" "${RESULTS[$i]}" "${SECONDS_TAKEN[$i]}"
  done
  for f in "$OUT"/cuda-test.log "$OUT"/sanitizer-*.log; do
    [ -f "$f" ] || continue
    printf "%-22s %s\n" "$(basename "$f" .log)" \
      "$(grep -E '[0-9]+ passed, [0-9]+ failed|ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tr '\n' ' ')"
  done
  echo "logs: $OUT"
} | tee "$OUT/summary.txt"

for r in "${RESULTS[@]}"; do
  [ "$r" = "ok" ] || exit 1
done
exit 0

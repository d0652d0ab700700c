#!/usr/bin/env bash
# The forced-configuration matrix: reruns the test classes whose figures depend on the kernel path
# or the many-row product backend under configurations that stand in for the CPUs this machine is
# not (Docs/architecture.md, "Same figures on every CPU"). Unlike every other test run, it sets
# BLT_CPU, BLT_GEMM and OPENBLAS_CORETYPE on purpose, one configuration per run; each run prints its
# configuration and what `blt --version` reports under it, and fails if that is not what it asked for.
#
# Usage: Tests/Scripts/test-matrix.sh [NAME…]   (default: every configuration below)
# The tests run on a release build (the C kernels at -O0 make the blocked GEMM too slow in debug).
set -euo pipefail
cd "$(dirname "$0")/../.."
SWIFT=${SWIFT:-swift}

# The test classes that run products, passes or scoring: kernels, reference parity, evaluation,
# packing, per-byte scores, generation, sampling, serve, conversion, the bundled model, the CLI.
CLASSES=(KernelTests ReferenceParityTests OfficialVectorTests BundledModelTests LibraryUsageTests
         EvaluationTests EvalCLITests PackingTests PackingCLITests ByteScoresTests VisualizationTests VisualizationCLITests
         GenerationTests GenerateCLITests SamplingTests ServeTests ConvertTests ConvertedModelTests
         OfficialPatchingTests SweepTests SweepPlotTests PatchingCLITests
         HostileCLITests LongTextPatchingTests LongTextPatchCLITests InferenceContextTests ParallelTests AttentionKernelTests UserDataSafetyCLITests DocumentInputTests)
FILTER="\.($(IFS='|'; echo "${CLASSES[*]}"))/"

# name | environment | what `blt --version` must report (every word, separated by ';')
CONFIGS=(
  "generic|BLT_CPU=generic|kernels: generic "
  "avx2-openblas|BLT_CPU=avx2 BLT_GEMM=openblas|kernels: avx2 ;gemm: openblas"
  "avx2-blocked|BLT_CPU=avx2 BLT_GEMM=blocked|kernels: avx2 ;gemm: blocked"
  "prescott|OPENBLAS_CORETYPE=Prescott|gemm: blocked;Prescott"
  "zen3|BLT_CPU=avx2 OPENBLAS_CORETYPE=Zen|kernels: avx2 ;gemm: blocked, attention: openblas;Zen"
)

wanted=("$@")
selected=()
for config in "${CONFIGS[@]}"; do
  name=${config%%|*}
  if [ ${#wanted[@]} -eq 0 ] || printf '%s\n' "${wanted[@]}" | grep -qx "$name"; then selected+=("$config"); fi
done
[ ${#selected[@]} -gt 0 ] || { echo "no configuration named ${wanted[*]}; known: $(printf '%s ' "${CONFIGS[@]%%|*}")"; exit 2; }

# Release with testable imports, in a build folder of its own (the product build in .build stays as it is).
BUILD=(-c release -Xswiftc -enable-testing --scratch-path .build-matrix)
BLT=.build-matrix/release/blt
echo "== test-matrix: building the tests (release, testable)"
if ! $SWIFT build "${BUILD[@]}" --build-tests >"${TMPDIR:-/tmp}/blt-test-matrix-build.log" 2>&1; then
  grep -E "error" "${TMPDIR:-/tmp}/blt-test-matrix-build.log" | head -20
  echo "the release test build failed"; exit 1
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
passed_tests=0 failed_tests=0
for config in "${selected[@]}"; do
  IFS='|' read -r name settings expected <<<"$config"
  echo
  echo "== test-matrix: $name ($settings)"
  if ! version=$(env $settings $BLT --version 2>&1); then
    echo "$version"
    echo "FAILED: blt --version refuses this configuration on this CPU"
    failed+=("$name"); continue
  fi
  echo "$version"
  mismatch=""
  IFS=';' read -r -a words <<<"$expected"
  for word in "${words[@]}"; do
    grep -qF -- "$word" <<<"$version" || mismatch+=" '$word'"
  done
  if [ -n "$mismatch" ]; then
    echo "FAILED: asked for $settings, but blt --version does not report$mismatch"
    failed+=("$name"); continue
  fi
  start=$SECONDS
  status=0
  env $settings $SWIFT test "${BUILD[@]}" --skip-build --disable-swift-testing --filter "$FILTER" >"$logs/$name.log" 2>&1 || status=$?
  summary=$(grep -E "Test Suite 'Selected tests' (passed|failed)" -A1 "$logs/$name.log" | tail -1 | sed 's/^[[:space:]]*//')
  if [[ $summary =~ Executed\ ([0-9]+)\ tests?,\ with\ ([0-9]+)\ failure ]]; then
    passed_tests=$((passed_tests + BASH_REMATCH[1] - BASH_REMATCH[2]))
    failed_tests=$((failed_tests + BASH_REMATCH[2]))
  fi
  if [ $status = 0 ] && Tests/Scripts/no-skipped-tests.sh "$logs/$name.log" >/dev/null; then
    echo "$summary ($((SECONDS - start)) s)"
  else
    grep -E "error:|skipped|Executed .* tests" "$logs/$name.log" | tail -30
    echo "FAILED: $name"
    failed+=("$name")
  fi
done
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "test-matrix: ${#failed[@]} of ${#selected[@]} configurations failed: ${failed[*]}"
else
  echo "test-matrix: all ${#selected[@]} configurations passed"
fi
# The plain closing line: tests over every configuration run.
echo "$passed_tests passed, $failed_tests failed"
[ ${#failed[@]} -eq 0 ]

# Shared by scripts/test, scripts/demo and scripts/bench: where things are and how to build.
# Source it; it sets AULA_ROOT and AULA_BUILD and defines aula_build.

AULA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AULA_BUILD=${AULA_BUILD_DIR:-$AULA_ROOT/build}
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$AULA_ROOT}
# Clones at other paths (CI's fresh clone, worktrees) share the cache: paths are relative to
# AULA_ROOT and the build directory is not hashed into debug-info compiles.
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

# aula_build [cmake --build args...]: configures once, then builds with every core.
aula_build() {
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  if [ ! -f "$AULA_BUILD/CMakeCache.txt" ]; then
    # -g1: line tables only (backtraces keep file:line) — full debug info of Beast/Asio
    # templates costs a lot of build time on two cores.
    cmake -S "$AULA_ROOT" -B "$AULA_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" ${AULA_CMAKE_ARGS:-} >/dev/null
  fi
  cmake --build "$AULA_BUILD" -j "$jobs" "$@"
}

# Installs the Debian packages when something is missing (quiet when all are there).
aula_deps() {
  "$AULA_ROOT/scripts/install-deps"
}

# The libFuzzer targets (tests/fuzz) in their own clang build dir: every object carries
# AddressSanitizer + UndefinedBehaviorSanitizer + libFuzzer's coverage; only the Asio-free
# libraries are built (clang 14's UBSan breaks on coroutine code: -fno-sanitize=function).
AULA_FUZZ_BUILD=${AULA_FUZZ_BUILD_DIR:-$AULA_ROOT/build-fuzz}
AULA_FUZZ_TARGETS=(telegram whatsapp twilio flow template session roster)

# aula_fuzz_build [cmake --build args...]
aula_fuzz_build() {
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  if [ ! -f "$AULA_FUZZ_BUILD/CMakeCache.txt" ]; then
    CC=clang CXX=clang++ cmake -S "$AULA_ROOT" -B "$AULA_FUZZ_BUILD" -DCMAKE_BUILD_TYPE=Fuzz \
      -DBUILD_TESTING=OFF -DAULA_FUZZ=ON \
      -DCMAKE_CXX_FLAGS_FUZZ="-g1 -O1" \
      -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-unknown-warning-option" \
      >/dev/null
  fi
  cmake --build "$AULA_FUZZ_BUILD" -j "$jobs" --target aula_fuzzers "$@"
}

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (g++, scripts/test --full):
# its own build dir, -O1 with frame pointers for readable reports; any UB report aborts.
AULA_ASAN_BUILD=${AULA_ASAN_BUILD_DIR:-$AULA_ROOT/build-asan}

# aula_asan_build [cmake --build args...]
aula_asan_build() {
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  if [ ! -f "$AULA_ASAN_BUILD/CMakeCache.txt" ]; then
    CC=gcc CXX=g++ cmake -S "$AULA_ROOT" -B "$AULA_ASAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
      -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" ${AULA_CMAKE_ARGS:-} >/dev/null
  fi
  cmake --build "$AULA_ASAN_BUILD" -j "$jobs" "$@"
}

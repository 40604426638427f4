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

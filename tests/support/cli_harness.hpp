// Running the real `aula` binary from Catch2 tests: the command's exit status and output,
// files in and out, and a temporary folder that cleans up after itself. AULA_BIN and
// AULA_SOURCE_DIR are compile definitions of the test executables (tests/cli/CMakeLists.txt).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

namespace aula_test {

namespace fs = std::filesystem;

struct run_result {
  int status = -1;
  std::string out;  // stdout, and stderr too unless left out
};

inline run_result run(const std::string& args, bool with_stderr = true) {
  std::string cmd = std::string(AULA_BIN) + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  run_result r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string source(const std::string& rel) { return std::string(AULA_SOURCE_DIR) + "/" + rel; }

inline std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& prefix = "aula-test-") {
    std::random_device rd;
    path = fs::temp_directory_path() / (prefix + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

}  // namespace aula_test

// The checks the native test executables share: count, print failures, exit code.
#pragma once
#include <cstdio>
#include <string>

inline int g_failures = 0, g_checks = 0;

inline void expect_true(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) {
    std::printf("FAIL %s\n", what.c_str());
    ++g_failures;
  }
}

inline int report() {
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}

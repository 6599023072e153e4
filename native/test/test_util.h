// test_util.h — minimal checks for the ctest executables: each failed CHECK
// prints file:line and the expression, and main returns TestExitCode().
#pragma once
#include <cstdio>
#include <cstdlib>

namespace jetrecv::test {

inline int& FailureCount() {
  static int failures = 0;
  return failures;
}

inline int TestExitCode() {
  if (FailureCount() == 0) {
    std::printf("all checks passed\n");
    return 0;
  }
  std::printf("%d check(s) failed\n", FailureCount());
  return 1;
}

}  // namespace jetrecv::test

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::printf("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++jetrecv::test::FailureCount();                                     \
    }                                                                      \
  } while (0)

#define CHECK_EQ(a, b)                                                                             \
  do {                                                                                             \
    auto check_a_ = (a);                                                                           \
    auto check_b_ = (b);                                                                           \
    if (!(check_a_ == check_b_)) {                                                                 \
      std::printf("%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #b, \
                  static_cast<long long>(check_a_), static_cast<long long>(check_b_));             \
      ++jetrecv::test::FailureCount();                                                             \
    }                                                                                              \
  } while (0)

// Aborts the test: for preconditions whose failure makes later checks meaningless.
#define REQUIRE(cond)                                                        \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::printf("%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
      std::exit(1);                                                          \
    }                                                                        \
  } while (0)

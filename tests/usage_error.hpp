// Checking error messages: the UsageError a call throws, and a message that holds a part.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "sptrain/error.hpp"

namespace sptrain::test {

// The UsageError message of f(), or "" (a failure) if it does not throw one.
inline std::string usage_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no UsageError";
  return "";
}

}  // namespace sptrain::test

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

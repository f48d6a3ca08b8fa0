// sptrain error types. UsageError is bad user input (a spec key, a flag, a file's content): the CLI
// prints "error: <message>" and exits 2. Any other exception is a runtime failure: exit 1.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>

namespace sptrain {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A spec or config key with a bad value: formats "<key>: <what> (<allowed>)".
class KeyError : public UsageError {
 public:
  KeyError(const std::string& key, const std::string& what, const std::string& allowed)
      : UsageError(key + ": " + what + (allowed.empty() ? "" : " (" + allowed + ")")), key_(key) {}
  const std::string& key() const noexcept { return key_; }

 private:
  std::string key_;
};

// Device memory exhausted: the bytes asked and free at the time (the message says both).
class OutOfDeviceMemory : public std::runtime_error {
 public:
  OutOfDeviceMemory(const std::string& msg, size_t asked_bytes, size_t free_bytes)
      : std::runtime_error(msg), asked(asked_bytes), free(free_bytes) {}
  size_t asked, free;
};

}  // namespace sptrain

// sptrain error types. UsageError is bad user input (a spec key, a flag, a file's content): the CLI
// prints "error: <message>" and exits 2. Any other exception is a runtime failure: exit 1.
#pragma once
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

}  // namespace sptrain

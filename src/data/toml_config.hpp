// Strictly checked TOML configuration (parsed with toml++): every key must be one of the allowed
// keys, every value has the TOML type its key needs, and values are read with their key in every
// error message ("<key>: <what is wrong> (<allowed>)"). Shared by trajectory specs and training configs.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sptrain/error.hpp"

namespace sptrain::cfg {

// Spec and config files larger than this are refused before they are read.
inline constexpr int64_t kMaxFileBytes = int64_t(1) << 20;

// One TOML value, converted from the parser's tree (tables inside arrays and dates keep only their type).
struct Value {
  enum class Type { Integer, Float, Boolean, String, Array, Other };
  Type type = Type::Other;
  int64_t integer = 0;
  double real = 0;
  bool boolean = false;
  std::string string;       // String: the text; Other: the TOML type name
  std::vector<Value> items;  // Array
  std::string describe() const;  // "a string \"20\"", "an array [20]", "a float 2.5", ...
};

// Values by full dotted key ("switching.rate"), plus the keys in the order they appear in the document.
struct Items {
  std::map<std::string, Value> values;
  std::vector<std::string> order;
};

// `allowed` holds full dotted keys; a part "*" matches any one part ("layer.*.type").
// `what` names the document in errors ("spec", "config"), `source` its file (parse errors read
// "<what> <source>:<line>:<column>: <problem>").
void read_items(const std::string& text, Items& items, const std::vector<std::string>& allowed, const std::string& what,
                const std::string& source);
// Applies "section.key=value" on top of items (same checks). The value is TOML; a bare word
// (starting with a letter, '.', '/' or '_', without spaces, quotes, brackets, '#', ',' or '=') is read as a string.
void apply_override(const std::string& kv, Items& items, const std::vector<std::string>& allowed);
// The content of a spec or config file: a regular file of at most kMaxFileBytes, read with that bound.
std::string read_file(const std::string& path, const std::string& what);

// Physical memory available to this process now (MemAvailable of /proc/meminfo, else
// sysconf(_SC_PHYS_PAGES) * page size), in bytes.
int64_t available_memory();
// Throws KeyError "<key>: needs N bytes (M available ...)" when `bytes` (< 0: overflowed) does not fit.
void check_memory(const std::string& key, double bytes);

std::string join(const std::vector<std::string>& v, const std::string& sep);
std::string fmt(double x);

class Reader {
 public:
  explicit Reader(const Items& items) : items_(items.values) {}
  bool has(const std::string& k) const { return items_.count(k) > 0; }
  const Value& value(const std::string& k) const { return items_.at(k); }
  bool is_string(const std::string& k) const { return has(k) && value(k).type == Value::Type::String; }

  // A TOML integer or float, finite.
  double number(const std::string& k, double def) const;
  // number() within [lo, hi] ("<x> is out of range (lo to hi<unit>)").
  double number(const std::string& k, double def, double lo, double hi, const std::string& unit = "") const;
  // A TOML integer.
  int64_t integer(const std::string& k, int64_t def) const;
  // integer() within [lo, hi], checked before the caller narrows it.
  int64_t integer(const std::string& k, int64_t def, int64_t lo, int64_t hi, const std::string& unit = "") const;
  std::string string(const std::string& k, const std::string& def) const;
  bool boolean(const std::string& k, bool def) const;
  std::vector<double> list(const std::string& k) const;          // array of numbers
  std::vector<int64_t> int_list(const std::string& k) const;     // array of integers
  std::vector<std::string> strings(const std::string& k) const;  // a string or an array of strings
  std::vector<std::vector<double>> matrix(const std::string& k) const;  // array of arrays of numbers
  static std::string fmt(double x) { return cfg::fmt(x); }

 private:
  const std::map<std::string, Value>& items_;
};

// Checks a number that is already read against [lo, hi] (for derived values).
void bound(double x, const std::string& key, double lo, double hi, const std::string& unit = "");
void require(bool ok, const std::string& key, const std::string& what, const std::string& allowed);
// Keys that only make sense for some choice of another key: error if any is present.
void forbid(const Reader& r, const std::vector<std::string>& keys, const std::string& why);

}  // namespace sptrain::cfg

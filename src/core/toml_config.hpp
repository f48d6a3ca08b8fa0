// Strictly checked TOML configuration (read with CLI11's config parser): every key must be one
// of the allowed keys, values are read with their key in every error message
// ("<key>: <what is wrong> (<allowed>)"). Shared by trajectory specs and training configs.
#pragma once
#include <cstdint>
#include <istream>
#include <map>
#include <string>
#include <vector>

#include <algorithm>
#include <cmath>

#include "sptrain/error.hpp"

namespace sptrain::cfg {

// Values by full dotted key ("switching.rate"), plus the keys in the order they first appeared.
struct Items {
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> order;
};

// `allowed` holds full dotted keys; a part "*" matches any one part ("layer.*.type").
// `what` names the document in parse errors ("spec", "config").
void read_items(std::istream& in, Items& items, const std::vector<std::string>& allowed, const std::string& what,
                bool is_override);
// Applies "section.key=value" on top of items (same checks).
void apply_override(const std::string& kv, Items& items, const std::vector<std::string>& allowed);

std::string join(const std::vector<std::string>& v, const std::string& sep);
std::string fmt(double x);

class Reader {
 public:
  explicit Reader(const Items& items) : items_(items.values) {}
  bool has(const std::string& k) const { return items_.count(k) > 0; }

  const std::vector<std::string>& raw(const std::string& k) const { return items_.at(k); }

  double number(const std::string& k, double def) const {
    if (!has(k)) return def;
    const auto& v = raw(k);
    if (v.size() != 1) throw KeyError(k, "expected one number, got " + std::to_string(v.size()) + " values", "");
    return parse_number(k, v[0]);
  }
  int64_t integer(const std::string& k, int64_t def) const {
    double x = number(k, double(def));
    if (x != std::floor(x) || std::abs(x) > 9e15) throw KeyError(k, fmt(x) + " is not an integer", "");
    return int64_t(x);
  }
  std::string string(const std::string& k, const std::string& def) const {
    if (!has(k)) return def;
    const auto& v = raw(k);
    if (v.size() != 1) throw KeyError(k, "expected one string", "");
    return v[0];
  }
  bool boolean(const std::string& k, bool def) const {
    std::string s = string(k, def ? "true" : "false");
    if (s == "true" || s == "1") return true;
    if (s == "false" || s == "0") return false;
    throw KeyError(k, "'" + s + "' is not a boolean", "true or false");
  }
  std::vector<double> list(const std::string& k) const {
    std::vector<double> out;
    for (auto s : raw(k)) {
      s.erase(std::remove(s.begin(), s.end(), '['), s.end());
      s.erase(std::remove(s.begin(), s.end(), ']'), s.end());
      if (!s.empty()) out.push_back(parse_number(k, s));
    }
    return out;
  }
  std::vector<std::vector<double>> matrix(const std::string& k) const {
    std::vector<std::vector<double>> rows;
    bool open = false;
    for (auto s : raw(k)) {
      bool starts = !s.empty() && s.front() == '[', ends = !s.empty() && s.back() == ']';
      if (starts) {
        rows.emplace_back();
        open = true;
      }
      if (!open) throw KeyError(k, "expected an array of rows", "for example [[-0.1, 0.1], [0.2, -0.2]]");
      s.erase(std::remove(s.begin(), s.end(), '['), s.end());
      s.erase(std::remove(s.begin(), s.end(), ']'), s.end());
      if (!s.empty()) rows.back().push_back(parse_number(k, s));
      if (ends) open = false;
    }
    return rows;
  }
  static std::string fmt(double x) { return cfg::fmt(x); }

 private:
  static double parse_number(const std::string& k, const std::string& s) {
    try {
      size_t used = 0;
      double x = std::stod(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
      if (!std::isfinite(x)) throw KeyError(k, "'" + s + "' is not finite", "a finite number");
      return x;
    } catch (const KeyError&) {
      throw;
    } catch (const std::exception&) {
      throw KeyError(k, "'" + s + "' is not a number", "");
    }
  }
  const std::map<std::string, std::vector<std::string>>& items_;
};

void require(bool ok, const std::string& key, const std::string& what, const std::string& allowed);
// Keys that only make sense for some choice of another key: error if any is present.
void forbid(const Reader& r, const std::vector<std::string>& keys, const std::string& why);

}  // namespace sptrain::cfg

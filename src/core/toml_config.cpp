// Strictly checked TOML configuration: parsing with CLI11, key matching, overrides.
#include "core/toml_config.hpp"

#include <CLI/CLI.hpp>

#include <sstream>

namespace sptrain::cfg {

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

std::string fmt(double x) {
  std::ostringstream o;
  o << x;
  return o.str();
}

namespace {
std::vector<std::string> split(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream ss(key);
  std::string p;
  while (std::getline(ss, p, '.')) parts.push_back(p);
  return parts;
}

bool matches(const std::string& pattern, const std::string& key) {
  auto a = split(pattern), b = split(key);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != "*" && a[i] != b[i]) return false;
  return true;
}

// The allowed key names in the section of `key` (for the error message).
std::vector<std::string> siblings(const std::vector<std::string>& allowed, const std::string& key) {
  auto kp = split(key);
  std::vector<std::string> out;
  for (const auto& a : allowed) {
    auto ap = split(a);
    if (ap.size() != kp.size()) continue;
    bool same = true;
    for (size_t i = 0; i + 1 < ap.size(); ++i) same = same && (ap[i] == "*" || ap[i] == kp[i]);
    if (same) out.push_back(ap.back());
  }
  return out;
}
}  // namespace

void read_items(std::istream& in, Items& items, const std::vector<std::string>& allowed, const std::string& what,
                bool is_override) {
  CLI::ConfigTOML parser;
  std::vector<CLI::ConfigItem> parsed;
  try {
    parsed = parser.from_config(in);
  } catch (const std::exception& e) {
    throw UsageError(what + ": cannot parse TOML: " + e.what());
  }
  for (const auto& it : parsed) {
    if (it.name == "++" || it.name == "--") continue;
    std::string key;
    for (const auto& p : it.parents) key += p + ".";
    key += it.name;
    bool ok = false;
    for (const auto& a : allowed) ok = ok || matches(a, key);
    if (!ok) {
      auto sib = siblings(allowed, key);
      throw KeyError(key, "unknown key", sib.empty() ? "no such section" : "allowed: " + join(sib, ", "));
    }
    if (!is_override && items.values.count(key)) throw KeyError(key, "given twice", "one value per key");
    if (!items.values.count(key)) items.order.push_back(key);
    items.values[key] = it.inputs;
  }
}

void apply_override(const std::string& ov, Items& items, const std::vector<std::string>& allowed) {
  auto eq = ov.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("--set " + ov + ": expected KEY=VALUE (for example switching.rate=0.02)");
  std::string key = ov.substr(0, eq), value = ov.substr(eq + 1);
  key.erase(0, key.find_first_not_of(" \t"));
  key.erase(key.find_last_not_of(" \t") + 1);
  std::string text;
  auto dot = key.rfind('.');
  if (dot != std::string::npos) text = "[" + key.substr(0, dot) + "]\n" + key.substr(dot + 1) + " = " + value + "\n";
  else text = key + " = " + value + "\n";
  std::istringstream in(text);
  read_items(in, items, allowed, "--set", true);
}

void require(bool ok, const std::string& key, const std::string& what, const std::string& allowed) {
  if (!ok) throw KeyError(key, what, allowed);
}

void forbid(const Reader& r, const std::vector<std::string>& keys, const std::string& why) {
  for (const auto& k : keys)
    if (r.has(k)) throw KeyError(k, "not used " + why, "remove it");
}

}  // namespace sptrain::cfg

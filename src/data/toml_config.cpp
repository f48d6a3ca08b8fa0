// Strictly checked TOML configuration: parsing with toml++, key matching, typed reading, overrides,
// bounded file reading and the memory check.
#include "data/toml_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include <toml++/toml.h>

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

std::string Value::describe() const {
  switch (type) {
    case Type::Integer: return "an integer " + std::to_string(integer);
    case Type::Float: return "a float " + fmt(real);
    case Type::Boolean: return std::string("a boolean ") + (boolean ? "true" : "false");
    case Type::String: {
      std::string s = string.size() > 40 ? string.substr(0, 40) + "..." : string;
      return "a string \"" + s + "\"";
    }
    case Type::Array: return "an array of " + std::to_string(items.size()) + " values";
    default: return "a " + string;
  }
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

Value convert(const toml::node& n) {
  Value v;
  if (auto i = n.as_integer()) {
    v.type = Value::Type::Integer;
    v.integer = i->get();
  } else if (auto f = n.as_floating_point()) {
    v.type = Value::Type::Float;
    v.real = f->get();
  } else if (auto b = n.as_boolean()) {
    v.type = Value::Type::Boolean;
    v.boolean = b->get();
  } else if (auto s = n.as_string()) {
    v.type = Value::Type::String;
    v.string = s->get();
  } else if (auto a = n.as_array()) {
    v.type = Value::Type::Array;
    for (const auto& e : *a) v.items.push_back(convert(e));
  } else {
    v.type = Value::Type::Other;
    v.string = n.is_table() ? "table" : n.is_date() ? "date" : n.is_time() ? "time" : "date-time";
  }
  return v;
}

struct Leaf {
  std::string key;
  const toml::node* node;
};

void leaves(const toml::table& t, const std::string& prefix, std::vector<Leaf>& out) {
  for (const auto& [k, v] : t) {
    std::string key = prefix + std::string(k.str());
    if (const auto* sub = v.as_table()) leaves(*sub, key + ".", out);
    else out.push_back({key, &v});
  }
}

toml::table parse(const std::string& text, const std::string& what, const std::string& source) {
  std::string_view doc(text);
  if (doc.size() >= 3 && doc.substr(0, 3) == "\xEF\xBB\xBF") doc.remove_prefix(3);  // UTF-8 byte order mark
  try {
    return toml::parse(doc, std::string_view(source));
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw UsageError(what + " " + source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                     std::string(e.description()));
  }
}

void add(const toml::table& t, Items& items, const std::vector<std::string>& allowed, bool is_override) {
  std::vector<Leaf> found;
  leaves(t, "", found);
  // Document order (the order of [layer.*] sections is the order of the model's layers).
  std::stable_sort(found.begin(), found.end(), [](const Leaf& a, const Leaf& b) {
    const auto &x = a.node->source().begin, &y = b.node->source().begin;
    return std::tie(x.line, x.column) < std::tie(y.line, y.column);
  });
  for (const auto& l : found) {
    bool ok = false;
    for (const auto& a : allowed) ok = ok || matches(a, l.key);
    if (!ok) {
      auto sib = siblings(allowed, l.key);
      throw KeyError(l.key, "unknown key", sib.empty() ? "no such section" : "allowed: " + join(sib, ", "));
    }
    if (!is_override && items.values.count(l.key)) throw KeyError(l.key, "given twice", "one value per key");
    if (!items.values.count(l.key)) items.order.push_back(l.key);
    items.values[l.key] = convert(*l.node);
  }
}

bool bare_word(const std::string& v) {
  if (v.empty()) return false;
  const unsigned char c0 = static_cast<unsigned char>(v[0]);
  if (!(std::isalpha(c0) || c0 == '.' || c0 == '/' || c0 == '_')) return false;
  for (unsigned char c : v)
    if (std::isspace(c) || std::iscntrl(c) || std::string("\"'[]{}#,=\\").find(char(c)) != std::string::npos)
      return false;
  return true;
}
}  // namespace

void read_items(const std::string& text, Items& items, const std::vector<std::string>& allowed, const std::string& what,
                const std::string& source) {
  add(parse(text, what, source), items, allowed, false);
}

void apply_override(const std::string& ov, Items& items, const std::vector<std::string>& allowed) {
  auto eq = ov.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("--set " + ov + ": expected KEY=VALUE (for example switching.rate=0.02)");
  if (ov.find_first_of("\r\n") != std::string::npos) throw UsageError("--set " + ov + ": one line KEY=VALUE");
  std::string key = ov.substr(0, eq), value = ov.substr(eq + 1);
  auto trim = [](std::string& s) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
  };
  trim(key);
  trim(value);
  if (key.empty() || value.empty()) throw UsageError("--set " + ov + ": expected KEY=VALUE (for example switching.rate=0.02)");
  toml::table t;
  try {
    const std::string text = key + " = " + value + "\n";
    t = toml::parse(std::string_view(text), std::string_view("--set"));
  } catch (const toml::parse_error& e) {
    if (!bare_word(value))
      throw UsageError("--set " + ov + ": " + std::string(e.description()) +
                       " (the value is TOML; a string with spaces or quotes needs TOML quotes: KEY=\"...\")");
    t = parse(key + " = \"" + value + "\"\n", "--set", ov);
  }
  add(t, items, allowed, true);
}

std::string read_file(const std::string& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw UsageError(what + ": cannot open '" + path + "'");
  if (!fs::is_regular_file(st)) throw UsageError(what + ": '" + path + "' is not a regular file");
  const auto size = fs::file_size(path, ec);
  const std::string limit = "at most " + std::to_string(kMaxFileBytes) + " bytes (1 MiB)";
  if (!ec && size > uint64_t(kMaxFileBytes))
    throw UsageError(what + ": '" + path + "' is " + std::to_string(size) + " bytes, too large (" + limit + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(what + ": cannot open '" + path + "'");
  std::string text(size_t(kMaxFileBytes) + 1, '\0');
  in.read(text.data(), std::streamsize(text.size()));
  text.resize(size_t(in.gcount()));
  if (int64_t(text.size()) > kMaxFileBytes) throw UsageError(what + ": '" + path + "' is too large (" + limit + ")");
  return text;
}

int64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream ls(line.substr(13));
    int64_t kb = 0;
    if (ls >> kb && kb > 0) return kb * 1024;
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return int64_t(pages) * int64_t(page);
  return INT64_MAX;
}

void check_memory(const std::string& key, double bytes) {
  const int64_t avail = available_memory();
  if (bytes >= 0 && bytes <= double(avail)) return;
  std::ostringstream o;
  o.precision(0);
  o << std::fixed << "needs " << (bytes >= 0 ? bytes : INFINITY) << " bytes";
  throw KeyError(key, o.str(), std::to_string(avail) + " bytes of physical memory available");
}

double Reader::number(const std::string& k, double def) const {
  if (!has(k)) return def;
  const Value& v = value(k);
  if (v.type == Value::Type::Integer) return double(v.integer);
  if (v.type != Value::Type::Float) throw KeyError(k, "expected a number, got " + v.describe(), "");
  if (!std::isfinite(v.real)) throw KeyError(k, fmt(v.real) + " is not finite", "a finite number");
  return v.real;
}

double Reader::number(const std::string& k, double def, double lo, double hi, const std::string& unit) const {
  double x = number(k, def);
  bound(x, k, lo, hi, unit);
  return x;
}

int64_t Reader::integer(const std::string& k, int64_t def) const {
  if (!has(k)) return def;
  const Value& v = value(k);
  if (v.type == Value::Type::Float) throw KeyError(k, fmt(v.real) + " is not an integer", "a TOML integer such as 20");
  if (v.type != Value::Type::Integer) throw KeyError(k, "expected an integer, got " + v.describe(), "");
  return v.integer;
}

int64_t Reader::integer(const std::string& k, int64_t def, int64_t lo, int64_t hi, const std::string& unit) const {
  int64_t x = integer(k, def);
  if (x < lo || x > hi)
    throw KeyError(k, std::to_string(x) + " is out of range", std::to_string(lo) + " to " + std::to_string(hi) + unit);
  return x;
}

std::string Reader::string(const std::string& k, const std::string& def) const {
  if (!has(k)) return def;
  const Value& v = value(k);
  if (v.type != Value::Type::String) throw KeyError(k, "expected a string, got " + v.describe(), "");
  return v.string;
}

bool Reader::boolean(const std::string& k, bool def) const {
  if (!has(k)) return def;
  const Value& v = value(k);
  if (v.type != Value::Type::Boolean) throw KeyError(k, "expected a boolean, got " + v.describe(), "true or false");
  return v.boolean;
}

namespace {
double element_number(const std::string& k, const Value& e, size_t i) {
  if (e.type == Value::Type::Integer) return double(e.integer);
  if (e.type == Value::Type::Float && std::isfinite(e.real)) return e.real;
  if (e.type == Value::Type::Float) throw KeyError(k, "entry " + std::to_string(i) + ": " + fmt(e.real) + " is not finite", "finite numbers");
  throw KeyError(k, "entry " + std::to_string(i) + ": expected a number, got " + e.describe(), "");
}
const Value& array_of(const Reader& r, const std::string& k, const std::string& of) {
  const Value& v = r.value(k);
  if (v.type != Value::Type::Array) throw KeyError(k, "expected an array of " + of + ", got " + v.describe(), "");
  return v;
}
}  // namespace

std::vector<double> Reader::list(const std::string& k) const {
  std::vector<double> out;
  const Value& v = array_of(*this, k, "numbers");
  for (size_t i = 0; i < v.items.size(); ++i) out.push_back(element_number(k, v.items[i], i));
  return out;
}

std::vector<int64_t> Reader::int_list(const std::string& k) const {
  std::vector<int64_t> out;
  const Value& v = array_of(*this, k, "integers");
  for (size_t i = 0; i < v.items.size(); ++i) {
    if (v.items[i].type != Value::Type::Integer)
      throw KeyError(k, "entry " + std::to_string(i) + ": expected an integer, got " + v.items[i].describe(), "");
    out.push_back(v.items[i].integer);
  }
  return out;
}

std::vector<std::string> Reader::strings(const std::string& k) const {
  const Value& v = value(k);
  if (v.type == Value::Type::String) return {v.string};
  const Value& a = array_of(*this, k, "strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < a.items.size(); ++i) {
    if (a.items[i].type != Value::Type::String)
      throw KeyError(k, "entry " + std::to_string(i) + ": expected a string, got " + a.items[i].describe(), "");
    out.push_back(a.items[i].string);
  }
  return out;
}

std::vector<std::vector<double>> Reader::matrix(const std::string& k) const {
  const std::string allowed = "an array of rows, for example [[-0.1, 0.1], [0.2, -0.2]]";
  const Value& v = value(k);
  if (v.type != Value::Type::Array) throw KeyError(k, "expected an array of rows, got " + v.describe(), allowed);
  std::vector<std::vector<double>> rows;
  for (size_t i = 0; i < v.items.size(); ++i) {
    const Value& row = v.items[i];
    const std::string rk = k + "[" + std::to_string(i) + "]";
    if (row.type != Value::Type::Array) throw KeyError(rk, "expected a row (an array of numbers), got " + row.describe(), allowed);
    rows.emplace_back();
    for (size_t j = 0; j < row.items.size(); ++j) rows.back().push_back(element_number(rk, row.items[j], j));
  }
  return rows;
}

void bound(double x, const std::string& key, double lo, double hi, const std::string& unit) {
  if (!(x >= lo && x <= hi)) throw KeyError(key, fmt(x) + " is out of range", fmt(lo) + " to " + fmt(hi) + unit);
}

void require(bool ok, const std::string& key, const std::string& what, const std::string& allowed) {
  if (!ok) throw KeyError(key, what, allowed);
}

void forbid(const Reader& r, const std::vector<std::string>& keys, const std::string& why) {
  for (const auto& k : keys)
    if (r.has(k)) throw KeyError(k, "not used " + why, "remove it");
}

}  // namespace sptrain::cfg

// Metrics logs of a run directory: JSON lines plus CSV, each line written with one write() and
// fsync'd; readers and resume tolerate a torn last line.
#include "sptrain/metrics_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "sptrain/error.hpp"
#include "sptrain/io.hpp"

namespace sptrain {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

std::string jsonl_path(const std::string& dir) { return (fs::path(dir) / "metrics.jsonl").string(); }
std::string csv_path(const std::string& dir) { return (fs::path(dir) / "metrics.csv").string(); }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot open: " + std::strerror(errno));
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_all(int fd, const std::string& s, const std::string& path) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t w = ::write(fd, s.data() + done, s.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw std::runtime_error(io::io_error("writing", path, errno));
    done += size_t(w);
  }
  if (::fsync(fd) != 0) throw std::runtime_error(io::io_error("writing", path, errno));
}

// Cuts a torn last line (bytes after the last newline) off an open file.
void cut_torn_tail(int fd, const std::string& path) {
  std::string text = read_all(path);
  size_t keep = text.rfind('\n');
  keep = keep == std::string::npos ? 0 : keep + 1;
  if (keep == text.size()) return;
  if (::ftruncate(fd, off_t(keep)) != 0 || ::fsync(fd) != 0)
    throw std::runtime_error("cannot cut the torn last line of '" + path + "': " + std::strerror(errno));
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

std::string csv_cell(const ordered_json& v) {
  switch (v.type()) {
    case ordered_json::value_t::null: return "";
    case ordered_json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case ordered_json::value_t::number_integer: return std::to_string(v.get<int64_t>());
    case ordered_json::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
    case ordered_json::value_t::number_float: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.9g", v.get<double>());
      return buf;
    }
    case ordered_json::value_t::string: return csv_quote(v.get<std::string>());
    default: return csv_quote(v.dump());
  }
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) line += ',';
    line += csv_quote(fields[i]);
  }
  line += '\n';
  return line;
}

// Fields of the first line of a CSV text (RFC 4180 quoting).
std::vector<std::string> csv_header(const std::string& text) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') fields.back() += text[++i];
      else if (c == '"') quoted = false;
      else fields.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c == '\n' || c == '\r') {
      break;
    } else {
      fields.back() += c;
    }
  }
  if (fields.size() == 1 && fields[0].empty()) fields.clear();
  return fields;
}

std::vector<std::string> columns_of(const ordered_json& record) {
  std::vector<std::string> cols;
  for (auto& [k, v] : record.items()) cols.push_back(k);
  return cols;
}

// The CSV row of a record; throws std::logic_error for a key outside the columns.
std::string csv_row(const ordered_json& record, const std::vector<std::string>& columns) {
  for (auto& [k, v] : record.items())
    if (std::find(columns.begin(), columns.end(), k) == columns.end())
      throw std::logic_error("metrics record key '" + k + "' is not a column of metrics.csv (columns are fixed by "
                             "the first record)");
  std::string line;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) line += ',';
    auto it = record.find(columns[i]);
    if (it != record.end()) line += csv_cell(*it);
  }
  return line + "\n";
}

// The complete lines of a JSONL file with their records. The text after the last newline (a torn
// write) and blank lines are skipped.
template <class Json>
std::vector<std::pair<std::string, Json>> read_records(const std::string& path) {
  std::string text = read_all(path);
  std::vector<std::pair<std::string, Json>> out;
  size_t pos = 0;
  int64_t lineno = 0;
  for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    ++lineno;
    std::string line = text.substr(pos, nl - pos);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json r;
    try {
      r = Json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw UsageError(path + ":" + std::to_string(lineno) + ": not a JSON line: " + e.what());
    }
    if (!r.is_object()) throw UsageError(path + ":" + std::to_string(lineno) + ": not a JSON object");
    out.emplace_back(std::move(line), std::move(r));
  }
  return out;
}

int open_log(const std::string& path, bool append) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (append ? 0 : O_TRUNC), 0644);
  if (fd < 0) throw UsageError(path + ": cannot open for writing: " + std::strerror(errno));
  return fd;
}

}  // namespace

MetricsLog::MetricsLog(const std::string& run_dir, bool append)
    : jsonl_path_(jsonl_path(run_dir)), csv_path_(csv_path(run_dir)) {
  jsonl_fd_ = open_log(jsonl_path_, append);
  try {
    csv_fd_ = open_log(csv_path_, append);
    if (append) {
      cut_torn_tail(jsonl_fd_, jsonl_path_);
      cut_torn_tail(csv_fd_, csv_path_);
      columns_ = csv_header(read_all(csv_path_));
    }
  } catch (...) {
    ::close(jsonl_fd_);
    if (csv_fd_ >= 0) ::close(csv_fd_);
    throw;
  }
}

MetricsLog::~MetricsLog() {
  if (jsonl_fd_ >= 0) ::close(jsonl_fd_);
  if (csv_fd_ >= 0) ::close(csv_fd_);
}

void MetricsLog::write(const ordered_json& record) {
  if (!record.is_object() || record.empty())
    throw std::logic_error("a metrics record must be a non-empty JSON object, got " + record.dump());
  std::string header;
  std::vector<std::string> cols = columns_;
  if (cols.empty()) {
    cols = columns_of(record);
    header = csv_line(cols);
  }
  std::string row = csv_row(record, cols);  // validates before anything is written
  write_all(jsonl_fd_, record.dump() + "\n", jsonl_path_);
  write_all(csv_fd_, header + row, csv_path_);
  columns_ = std::move(cols);
}

std::vector<json> read_metrics(const std::string& run_dir) {
  std::vector<json> out;
  for (auto& [line, r] : read_records<json>(jsonl_path(run_dir))) out.push_back(std::move(r));
  return out;
}

void truncate_metrics(const std::string& run_dir, int64_t last_epoch) {
  const std::string jpath = jsonl_path(run_dir), cpath = csv_path(run_dir);
  auto records = read_records<ordered_json>(jpath);
  std::vector<std::pair<std::string, ordered_json>> kept;
  for (auto& rec : records) {
    auto it = rec.second.find("epoch");
    if (it == rec.second.end() || !it->is_number()) continue;
    bool keep = it->is_number_float() ? it->get<double>() <= double(last_epoch) : it->get<int64_t>() <= last_epoch;
    if (keep) kept.push_back(std::move(rec));
  }
  std::vector<std::string> cols;
  if (fs::exists(cpath)) cols = csv_header(read_all(cpath));
  if (cols.empty() && !kept.empty()) cols = columns_of(kept.front().second);

  std::string jtext, ctext = cols.empty() ? "" : csv_line(cols);
  for (auto& [line, r] : kept) {
    jtext += line + "\n";
    ctext += csv_row(r, cols);
  }
  io::AtomicFile jf(jpath), cf(cpath);
  jf.stream() << jtext;
  cf.stream() << ctext;
  jf.commit();
  cf.commit();
}

}  // namespace sptrain

// Per-epoch metrics of a run directory: run_dir/metrics.jsonl (one JSON object per line) and
// run_dir/metrics.csv (same records as a table).
//
// CSV: the columns are the keys of the first record, in its order (or, when appending, the header
// line already in the file). A later record may lack keys (empty cells) but may not add any.
// Cells: integers as integers, other numbers with "%.9g", true/false, null as empty, strings quoted
// (RFC 4180) when they contain a comma, quote, CR or LF, arrays/objects as their quoted JSON text.
// Every write() is flushed and fsync'd, so a crash loses at most the line being written.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sptrain {

class MetricsLog {
 public:
  // Opens (append=false: creates or empties) run_dir/metrics.jsonl and run_dir/metrics.csv. With
  // append=true a torn last line (no newline, left by a crash) is cut off first. Throws UsageError
  // if the files cannot be opened.
  MetricsLog(const std::string& run_dir, bool append);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // `record` must be a JSON object; keys keep their order (pass an ordered_json, e.g.
  // log.write({{"epoch", 3}, {"loss", 0.25}}); a plain nlohmann::json converts with sorted keys).
  // Throws std::logic_error for a non-object or for a key that is not a CSV column.
  void write(const nlohmann::ordered_json& record);

  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::string jsonl_path_, csv_path_;
  int jsonl_fd_ = -1, csv_fd_ = -1;
  std::vector<std::string> columns_;
};

// The records of run_dir/metrics.jsonl in order. A torn last line is ignored; any other line that
// is not a JSON object, or a missing file, throws UsageError naming the file (and line).
std::vector<nlohmann::json> read_metrics(const std::string& run_dir);

// For resume: atomically rewrites metrics.jsonl and metrics.csv keeping only the records whose
// "epoch" is <= last_epoch (records without a numeric "epoch" are dropped). The kept JSON lines are
// copied verbatim; the CSV is regenerated from them under the existing CSV header.
void truncate_metrics(const std::string& run_dir, int64_t last_epoch);

}  // namespace sptrain

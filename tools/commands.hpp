// Subcommands of the `sptrain` CLI: each add_* registers its options and callback on the app.
#pragma once
#include <CLI/CLI.hpp>

#include <csignal>
#include <memory>

#include "sptrain/trajectory_read.hpp"

namespace sptrain::cli {
// Set by a command that stops cleanly on SIGINT/SIGTERM (train): the first signal then only stores
// its number in stop_signal; a second one, or any signal to another command, exits at once.
extern volatile std::sig_atomic_t graceful_stop, stop_signal;
// Thrown by a command to end the program with this exit status (after its message is printed).
struct ExitStatus {
  int code;
};
// The exit status of `train` stopped by SIGTERM at a step boundary with a resumable checkpoint
// (EX_TEMPFAIL of sysexits.h, "try again later"): what a batch script tests to resubmit the run.
inline constexpr int kExitRequeue = 75;
// A seed: a decimal unsigned 64-bit integer, 0 to 18446744073709551615. Rejects signs (CLI11 reads
// "-1" into a uint64_t as 2^64 - 1) and values that overflow, before the option is converted.
inline CLI::Validator seed_validator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        const std::string max = "18446744073709551615";
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
          return "'" + s + "' is not a seed (a decimal integer 0 to " + max + ")";
        const std::string d = s.substr(std::min(s.find_first_not_of('0'), s.size() - 1));
        if (d.size() > max.size() || (d.size() == max.size() && d > max))
          return "'" + s + "' is too large for a seed (at most " + max + ")";
        return "";
      },
      "UINT64");
}
// The options of every command that reads tracked trajectories (fit, predict): units, minimum
// length (shorter tracks are left out and counted) and gaps (kept as gaps).
inline void add_track_options(CLI::App* sub, const std::shared_ptr<ReadOptions>& o) {
  *o = o->as_tracks();
  sub->add_option("--pixel-size", o->pixel_size,
                  "Micrometres per pixel: positions are multiplied by it (default: the file's unit, else pixels)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--frame-interval", o->frame_interval,
                  "Seconds per frame (default: the file's, else rates are per frame)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--min-length", o->min_length, "Leave out tracks with fewer localizations")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(2), int64_t(1) << 40));
}
void add_info(CLI::App& app);
void add_simulate(CLI::App& app);
void add_train(CLI::App& app);  // train and model
void add_eval(CLI::App& app);
void add_sweep(CLI::App& app);
void add_fit(CLI::App& app);  // cmd_fit.cpp
void add_predict(CLI::App& app);
void add_export(CLI::App& app);  // cmd_export.cpp
}  // namespace sptrain::cli

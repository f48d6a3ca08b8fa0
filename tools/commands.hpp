// Subcommands of the `sptrain` CLI: each add_* registers its options and callback on the app.
#pragma once
#include <CLI/CLI.hpp>

#include <csignal>

namespace sptrain::cli {
// Set by a command that stops cleanly on SIGINT/SIGTERM (train): the first signal then only stores
// its number in stop_signal; a second one, or any signal to another command, exits at once.
extern volatile std::sig_atomic_t graceful_stop, stop_signal;
// Thrown by a command to end the program with this exit status (after its message is printed).
struct ExitStatus {
  int code;
};
void add_info(CLI::App& app);
void add_simulate(CLI::App& app);
void add_train(CLI::App& app);  // train and model
void add_eval(CLI::App& app);
void add_sweep(CLI::App& app);
}  // namespace sptrain::cli

// Subcommands of the `sptrain` CLI: each add_* registers its options and callback on the app.
#pragma once
#include <CLI/CLI.hpp>

namespace sptrain::cli {
void add_info(CLI::App& app);
void add_simulate(CLI::App& app);
void add_train(CLI::App& app);  // train and model
void add_eval(CLI::App& app);
void add_sweep(CLI::App& app);
}  // namespace sptrain::cli

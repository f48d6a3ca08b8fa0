// sptrain command-line tool: `sptrain <command> --help` documents each command (docs/cli.md too).
// Exit status: 0 success, 2 bad input (flags, spec, files), 1 any other failure, 128 + signal
// interrupted (130 SIGINT, 143 SIGTERM), 75 `train` stopped by SIGTERM with a resumable checkpoint.
#include <csignal>
#include <iostream>
#include <unistd.h>

#include "commands.hpp"
#include "sptrain/error.hpp"
#include "sptrain/info.hpp"
#include "sptrain/io.hpp"

namespace sptrain::cli {
volatile std::sig_atomic_t graceful_stop = 0, stop_signal = 0;
}  // namespace sptrain::cli

namespace {
extern "C" void on_signal(int sig) {
  using namespace sptrain::cli;
  if (graceful_stop && stop_signal == 0) {  // train: checkpoint at the next step boundary
    stop_signal = sig;
    const char msg[] = "\ninterrupted: stopping at the next step boundary (signal again to exit at once)\n";
    (void)!write(2, msg, sizeof msg - 1);
    return;
  }
  sptrain::io::remove_pending_temporaries();
  const char msg[] = "\ninterrupted: partial outputs removed\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(128 + sig);
}
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  CLI::App app{"sptrain: simulate switching diffusion and train 1D CNNs on it, on GPUs and CPUs"};
  app.set_version_flag("--version", std::string("sptrain ") + sptrain::version());
  app.require_subcommand(1);
  sptrain::cli::add_info(app);
  sptrain::cli::add_simulate(app);
  sptrain::cli::add_train(app);
  sptrain::cli::add_eval(app);
  sptrain::cli::add_sweep(app);
  sptrain::cli::add_fit(app);
  sptrain::cli::add_predict(app);
  sptrain::cli::add_export(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const sptrain::cli::ExitStatus& e) {
    return e.code;
  } catch (const sptrain::UsageError& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}

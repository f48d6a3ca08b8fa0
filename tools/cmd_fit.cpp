// `sptrain fit`: classical analysis of tracked trajectories (no network): per-track D, the pooled
// HMM with rates and dwell times, per-step states; docs/fit.md.
#include <iostream>

#include "commands.hpp"
#include "sptrain/fit.hpp"

namespace sptrain::cli {

void add_fit(CLI::App& app) {
  auto r = std::make_shared<FitRequest>();
  auto read = std::make_shared<ReadOptions>();
  auto no_plots = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("fit", "Fit diffusion (per-track D, pooled HMM states, rates, dwell times) to tracked trajectories");
  sub->add_option("--input", r->input, "Tracks (trackpy/TrackMate/Spot-On/AnDi CSV, TrackMate XML, AnDi 2020, NPY of `sptrain simulate`); gaps allowed")->required();
  add_track_options(sub, read);
  sub->add_option("--out-dir", r->out_dir, "Output directory: fit.json, tracks.csv, steps.csv, figures")->required();
  sub->add_flag("--force", r->force, "Write into a non-empty output directory");
  sub->add_option("--max-states", r->fit.max_states, "BIC chooses the number of HMM states in 1..N")
      ->capture_default_str()
      ->check(CLI::Range(1, 10));
  sub->add_option("--states", r->fit.states, "Fit exactly K HMM states (no BIC)")->check(CLI::Range(1, 10));
  sub->add_option("--blur", r->fit.blur, "Motion-blur coefficient R in [0, 0.25] (1/6 for exposure over the whole frame)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.25));
  sub->add_option("--bootstrap", r->fit.bootstrap, "Resamples of the tracks for the HMM intervals (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  sub->add_option("--seed", r->fit.seed, "Seed of the bootstrap and the EM restarts, 0 to 2^64-1")
      ->capture_default_str()
      ->check(seed_validator());
  sub->add_flag("--no-plots", *no_plots, "Skip the figures");
  sub->callback([r, read, no_plots] {
    FitRequest req = *r;
    req.read = *read;
    req.plots = !*no_plots;
    req.fit.progress = true;
    const FitResult res = run_fit(req);
    std::cout << format_fit_table(res) << "outputs: " << req.out_dir << std::endl;
  });
}

}  // namespace sptrain::cli

// `sptrain simulate`: generate trajectories from a spec and write NPY(+labels NPZ) or trackpy CSV.
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "sptrain/error.hpp"
#include "sptrain/io.hpp"
#include "sptrain/sim.hpp"
#include "sptrain/trajectory_io.hpp"

namespace sptrain::cli {

namespace {
struct SimulateOptions {
  std::string spec, out, device = "auto";
  int64_t n = 0;
  uint64_t seed = 0;
  int64_t first = 0;
  std::vector<std::string> set;
  bool force = false, summary = false, features = false;
};

void print_summary(const nlohmann::json& s, std::ostream& os) {
  os << "trajectories " << s["trajectories"] << ", length " << s["length"] << ", dims " << s["dims"] << "\n";
  os << std::left << std::setw(7) << "state" << std::setw(14) << "steps" << std::setw(10) << "fraction"
     << std::setw(16) << "mean sigma" << "var(dx)/sigma^2\n";
  for (const auto& st : s["states"]) {
    os << std::setw(7) << st["state"].get<int>() << std::setw(14) << std::setprecision(10) << st["steps"].get<double>()
       << std::setw(10) << std::setprecision(4) << st["fraction"].get<double>() << std::setw(16)
       << std::setprecision(6) << st["mean_step_sigma"].get<double>();
    if (st.contains("normalized_increment_variance")) os << std::setprecision(5) << st["normalized_increment_variance"].get<double>();
    else os << "-";
    os << "\n";
  }
  const auto& sw = s["switches"];
  os << "switches per trajectory: mean " << sw["mean"].get<double>() << ", variance " << sw["variance"].get<double>()
     << ", with a switch " << 100.0 * sw["fraction_with_switch"].get<double>() << " %\n";
}

void run(const SimulateOptions& o) {
  SimSpec spec = load_spec(o.spec, o.set);
  if (o.out.empty() && !o.summary) throw UsageError("simulate: nothing to do: give --out FILE and/or --stdout-summary");
  if (o.n <= 0) throw UsageError("--n: " + std::to_string(o.n) + " is not positive (number of trajectories >= 1)");
  check_trajectory_memory(spec.params, double(o.n), "--n");
  enum { NPY, CSV } fmt = NPY;
  if (!o.out.empty()) {
    auto ext = std::filesystem::path(o.out).extension().string();
    if (ext == ".csv") fmt = CSV;
    else if (ext != ".npy") throw UsageError("--out: '" + o.out + "' must end in .npy or .csv");
    io::check_output_path(o.out, o.force);
    if (fmt == NPY) {
      io::check_output_path(labels_path_for(o.out), o.force);
      if (o.features) io::check_output_path(features_path_for(o.out), o.force);
    } else if (o.features) {
      throw UsageError("--features: only with an .npy output");
    }
  }
  Device dev = resolve_device(o.device);
  auto t0 = std::chrono::steady_clock::now();
  TrajectoryBatch b;
  simulate(spec.params, o.seed, o.first, o.n, dev, b);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << "simulated " << o.n << " trajectories of " << spec.params.length << " positions on " << dev.str()
            << " in " << std::setprecision(3) << secs << " s (" << std::setprecision(4) << o.n / secs
            << " trajectories/s)" << std::endl;
  if (!o.out.empty()) {
    nlohmann::json meta = {{"spec", spec.resolved}, {"seed", o.seed}, {"first_index", o.first}, {"n", o.n}};
    if (fmt == CSV) {
      write_batch_csv(b, o.out);
    } else if (o.features) {
      auto f = compute_features(spec.features, b.positions.data(), b.n, spec.params.length, spec.params.dims, dev);
      write_batch_npy(b, o.out, meta.dump(),
                      &f, {b.n, feature_length(spec.features, spec.params.length), feature_channels(spec.features, spec.params.dims)});
    } else {
      write_batch_npy(b, o.out, meta.dump());
    }
    std::cerr << "wrote " << o.out << (fmt == NPY ? " and " + labels_path_for(o.out) : "")
              << (o.features ? " and " + features_path_for(o.out) : "") << std::endl;
  }
  if (o.summary) print_summary(summarize(b), std::cout);
}
}  // namespace

void add_simulate(CLI::App& app) {
  auto o = std::make_shared<SimulateOptions>();
  auto* sub = app.add_subcommand("simulate", "Generate trajectories from a spec (TOML) and write NPY or CSV");
  sub->add_option("--spec", o->spec, "Trajectory spec (TOML), see docs/spec.md")->required();
  sub->add_option("--n", o->n, "Number of trajectories")->required();
  sub->add_option("--seed", o->seed, "Random seed, 0 to 2^64-1 (trajectory i is a pure function of seed and i)")
      ->check(seed_validator())
      ->capture_default_str();
  sub->add_option("--first-index", o->first, "Global index of the first trajectory")->capture_default_str();
  sub->add_option("--out", o->out, "Output file: .npy (plus <stem>.labels.npz) or .csv (trackpy layout)");
  sub->add_option("--set", o->set, "Override a spec key, KEY=VALUE (repeatable), e.g. --set switching.rate=0.02");
  sub->add_option("--device", o->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  sub->add_flag("--force", o->force, "Overwrite existing output files");
  sub->add_flag("--features", o->features, "Also write the spec's [features] as <stem>.features.npy");
  sub->add_flag("--stdout-summary", o->summary, "Print per-state step statistics and switch counts");
  sub->callback([o] { run(*o); });
}

}  // namespace sptrain::cli

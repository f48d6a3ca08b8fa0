// Classical statistical baselines for (switching) diffusion, the references trained models are
// compared with: step-size estimators (MLE, CVE, MSD fit, Cramer-Rao bound, bootstrap intervals),
// a hidden Markov model with zero-mean Gaussian displacement states (forward-backward, Viterbi,
// switch-count posterior, pooled Baum-Welch EM, BIC state selection) and single-switch detectors
// (split-point likelihood ratio, Bayesian switch-time posterior, fixed-time switch tests).
//
// Host only, double precision internally; every batched form runs an OpenMP loop over trajectories.
// Data layout: one trajectory is a row-major [steps, dims] array of displacements; each spatial
// dimension is an independent draw with the same (isotropic) variance. A batch is [count, steps,
// dims]. sigma is the std of one displacement component, sigma2 its variance (per step).
// Bad input (empty series, non-finite values, bad parameters) throws std::invalid_argument whose
// message names the function and what is wrong.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace sptrain::baselines {

// ---------------------------------------------------------------------------------------------
// Data views

// A row-major [count, steps, dims] batch of displacements.
struct SeriesBatch {
  const float* data = nullptr;
  std::int64_t count = 0;  // trajectories
  std::int64_t steps = 0;  // displacements per trajectory
  int dims = 1;            // spatial dimensions per displacement

  std::span<const float> trajectory(std::int64_t i) const {
    const auto len = static_cast<std::size_t>(steps) * static_cast<std::size_t>(dims);
    return {data + static_cast<std::size_t>(i) * len, len};
  }
};

// ---------------------------------------------------------------------------------------------
// Step-size estimators

enum class Estimator {
  MleZeroMean,    // sigma2 = mean(dx^2): MLE when the drift is known to be zero
  MleSampleMean,  // sigma2 = sum((dx - mean)^2) / n: MLE with unknown drift
  Cve,            // covariance-based estimator (Vestergaard et al. 2014), robust to localization noise
  MsdFit,         // slope of a least-squares line through MSD(lag), lags 1..msd_max_lag
};

struct EstimatorOptions {
  double blur = 0.0;     // Vestergaard's motion-blur coefficient R in [0, 1/4] (CVE only)
  int msd_max_lag = 4;   // L for the MSD fit (>= 2)
};

// sigma2 = sum(dx^2) / (n dims).
double mle_sigma2(std::span<const float> dx, int dims = 1);
// sigma2 = sum_d sum_t (dx_td - mean_d)^2 / (n dims).
double mle_sigma2_sample_mean(std::span<const float> dx, int dims = 1);

// CVE: sigma2 = mean(dx^2) + 2 mean(dx_t dx_{t+1}) (independent of the blur R),
// loc2 = R mean(dx^2) + (2R - 1) mean(dx_t dx_{t+1}) (= -mean(dx_t dx_{t+1}) without blur).
// Needs n >= 2. Either value can come out negative on short or noisy series.
struct CveResult {
  double sigma2;  // diffusive variance per step, 2 D dt
  double loc2;    // localization variance s_loc^2
};
CveResult cve(std::span<const float> dx, double blur = 0.0, int dims = 1);

// MSD(lag) for lag = 1..max_lag (element lag-1), from the positions x_0 = 0, x_t = sum_{s<t} dx_s,
// averaged over all start points and dimensions (per-dimension MSD). Needs n >= max_lag.
std::vector<double> msd(std::span<const float> dx, int max_lag, int dims = 1);

// Least-squares line MSD(lag) = offset + slope * lag through msd_by_lag[lag-1], lag = 1..L.
struct LineFit {
  double slope;   // sigma2 estimate
  double offset;  // intercept (2 s_loc^2 minus a blur term for noisy data)
};
LineFit fit_msd_line(std::span<const double> msd_by_lag);
LineFit msd_fit(std::span<const float> dx, int max_lag = 4, int dims = 1);

// Dispatch on the estimator: the sigma2 estimate of one trajectory or of every trajectory.
double estimate_sigma2(Estimator e, std::span<const float> dx, int dims = 1,
                       const EstimatorOptions& opt = {});
std::vector<double> estimate_sigma2(Estimator e, const SeriesBatch& batch,
                                    const EstimatorOptions& opt = {});
// sigma = sqrt(max(sigma2, 0)) for every trajectory.
std::vector<double> estimate_sigma(Estimator e, const SeriesBatch& batch,
                                   const EstimatorOptions& opt = {});

// Cramer-Rao bound for the zero-mean MLE from `samples` independent scalar displacements:
// relative std of sigma-hat 1/sqrt(2 samples), of sigma2-hat sqrt(2 / samples).
double cramer_rao_rel_std_sigma(std::int64_t samples);
double cramer_rao_rel_std_sigma2(std::int64_t samples);

// Percentile bootstrap: `resamples` resamples of the steps (moving blocks of `block` steps, so
// the lag-1 structure CVE and MSD rely on survives), each re-estimated; the interval is the
// ((1-level)/2, (1+level)/2) quantile pair. Deterministic given the seed (std::mt19937_64).
struct BootstrapOptions {
  int resamples = 1000;
  double level = 0.95;
  std::uint64_t seed = 0;
  // Block length in steps; 0 = automatic: 1 for the MLEs, max(2, round(n^(1/3))) for CVE,
  // max(msd_max_lag + 1, round(n^(1/3))) for the MSD fit.
  std::int64_t block = 0;
};
struct Interval {
  double estimate;  // the estimator on the original series
  double lo;
  double hi;
};
struct BootstrapCi {
  Interval sigma2;
  Interval sigma;  // sqrt of the sigma2 interval (negative values clamped to 0)
};
BootstrapCi bootstrap_ci(Estimator e, std::span<const float> dx, int dims = 1,
                         const BootstrapOptions& boot = {}, const EstimatorOptions& opt = {});
// Trajectory i is resampled with seed trajectory_seed(boot.seed, i).
std::vector<BootstrapCi> bootstrap_ci(Estimator e, const SeriesBatch& batch,
                                      const BootstrapOptions& boot = {},
                                      const EstimatorOptions& opt = {});
std::uint64_t trajectory_seed(std::uint64_t seed, std::int64_t index);

// ---------------------------------------------------------------------------------------------
// Hidden Markov model: K zero-mean Gaussian displacement states with stds sigma[k], per-step
// transition matrix trans (row-major K x K, trans[i*K + j] = P(z_{t+1} = j | z_t = i)) and
// initial distribution init. Displacement t is emitted by state z_t.

struct HmmParams {
  std::vector<double> sigma;
  std::vector<double> trans;
  std::vector<double> init;
  int states() const { return static_cast<int>(sigma.size()); }
};

// Throws std::invalid_argument unless K >= 1, sigma finite and > 0, trans K x K with rows that
// are probability vectors (entries in [0,1], sum 1 within 1e-6), init a probability vector.
void validate(const HmmParams& p);

// Transition matrix of the continuous-time chain that leaves each state at rate `rate` per step
// and jumps uniformly to one of the other K-1 states, over one step (exact matrix exponential):
// P(stay) = 1/K + (K-1)/K exp(-K rate / (K-1)), P(i -> j) = (1 - P(stay)) / (K-1).
std::vector<double> uniform_jump_transition(int K, double rate);
// exp(Q): the one-step transition matrix of a continuous-time chain with generator Q (row-major
// K x K, per step), by scaling and squaring a Taylor series; rows renormalized to sum 1.
std::vector<double> generator_transition(const std::vector<double>& Q, int K);
// HmmParams with that transition matrix and a uniform initial distribution.
HmmParams uniform_jump_hmm(std::vector<double> sigma, double rate);

// Forward-backward in log space (log-sum-exp at every step; stable for any length).
struct HmmPosterior {
  std::int64_t steps = 0;
  int K = 0;
  std::vector<double> gamma;       // [steps, K]: P(z_t = k | data)
  double loglik = 0;               // log p(data | params)
  double expected_switches = 0;    // sum_t sum_{i != j} P(z_{t-1} = i, z_t = j | data)
};
HmmPosterior forward_backward(std::span<const float> dx, const HmmParams& p, int dims = 1);

struct HmmPosteriorBatch {
  std::vector<double> gamma;              // [count, steps, K]; empty unless keep_gamma
  std::vector<double> loglik;             // [count]
  std::vector<double> expected_switches;  // [count]
};
HmmPosteriorBatch forward_backward(const SeriesBatch& batch, const HmmParams& p,
                                   bool keep_gamma = true);

// argmax_k gamma[t, k] for every step (the per-step MAP state).
std::vector<int> posterior_states(const HmmPosterior& post);

// Viterbi (most probable state path, log space).
struct ViterbiPath {
  std::vector<int> states;                 // [steps]
  double log_prob = 0;                     // log p(path, data)
  int switches = 0;                        // number of t with states[t] != states[t-1]
  std::vector<std::int64_t> switch_steps;  // those t (first step in the new state)
};
ViterbiPath viterbi(std::span<const float> dx, const HmmParams& p, int dims = 1);
std::vector<ViterbiPath> viterbi(const SeriesBatch& batch, const HmmParams& p);

// Posterior over the total number of switches: a forward pass over (state, switches so far).
// Counts of max_count or more share the last bin, so prob[max_count] = P(count >= max_count).
struct SwitchCountPosterior {
  std::vector<double> prob;  // [max_count + 1]
  int map = 0;               // argmax of prob (the count-aware MAP estimate)
  double mean = 0;           // sum_c c prob[c] (the last bin counted as max_count)
  double loglik = 0;         // log p(data | params)
};
SwitchCountPosterior switch_count_posterior(std::span<const float> dx, const HmmParams& p,
                                            int max_count, int dims = 1);
std::vector<SwitchCountPosterior> switch_count_posterior(const SeriesBatch& batch,
                                                         const HmmParams& p, int max_count);
// The same forward pass over given per-step log emission scores (steps x K, row-major), e.g. a
// network's per-step log-probabilities used as learned emissions, with transition matrix trans
// (K x K) and initial distribution init.
SwitchCountPosterior switch_count_posterior_from_emissions(std::span<const double> log_emission, int K,
                                                          const std::vector<double>& trans,
                                                          const std::vector<double>& init, int max_count);

// Baum-Welch EM with sigma, trans and init shared by all trajectories (pooled, like vbSPT).
struct EmOptions {
  int max_iter = 500;
  // Stop when the total log-likelihood changes by less than tol per displacement step.
  double tol = 1e-7;
  // Number of starts (>= 1): the first is deterministic (state stds from equal-count groups of the
  // sorted per-step squared displacements, stay probability init_stay), the others perturb it
  // randomly from `seed`. The fit with the highest log-likelihood wins.
  int restarts = 1;
  std::uint64_t seed = 0;
  double init_stay = 0.95;
  bool fit_init = true;  // re-estimate init (otherwise keep it uniform)
};
struct EmFit {
  HmmParams params;  // states sorted by increasing sigma
  double loglik = 0;
  int iterations = 0;
  bool converged = false;
};
EmFit fit_hmm(const SeriesBatch& batch, int K, const EmOptions& opt = {});
// Trajectories of different lengths, each [steps_i, dims].
EmFit fit_hmm(std::span<const std::span<const float>> trajectories, int dims, int K,
              const EmOptions& opt = {});
// EM from given starting parameters (one start; opt.restarts is ignored).
EmFit fit_hmm_from(const SeriesBatch& batch, const HmmParams& start, const EmOptions& opt = {});

// BIC = -2 loglik + params ln(total steps), params = K + K(K-1) + (K-1); fits K = 1..k_max.
int hmm_parameter_count(int K);
struct BicSelection {
  int best_K = 0;
  std::vector<double> bic;  // [k_max], bic[K-1]
  std::vector<EmFit> fits;  // [k_max]
};
BicSelection select_states_bic(const SeriesBatch& batch, int k_max, const EmOptions& opt = {});
BicSelection select_states_bic(std::span<const std::span<const float>> trajectories, int dims,
                               int k_max, const EmOptions& opt = {});

// ---------------------------------------------------------------------------------------------
// Single-switch detection. Split k means steps [0, k) come from one variance, [k, n) from the other.

// Likelihood ratio over every split k in [min_segment, n - min_segment], each segment with its own
// MLE variance (zero mean), against one variance for the whole series.
struct SplitScan {
  std::int64_t best_split = 0;
  double lr_stat = 0;        // 2 (loglik_switch - loglik_null) >= 0
  double loglik_switch = 0;  // profile log-likelihood at best_split
  double loglik_null = 0;
  std::vector<double> profile;  // profile[k - min_segment] = profile log-likelihood at split k
};
SplitScan scan_single_switch(std::span<const float> dx, int dims = 1, std::int64_t min_segment = 1);
std::vector<SplitScan> scan_single_switch(const SeriesBatch& batch, std::int64_t min_segment = 1,
                                          bool keep_profile = false);

// Posterior over a continuous switch time tau (in steps; step m covers [m, m+1)) with known stds,
// uniform prior on [t_min, t_max]. The step containing the switch at fraction f = tau - m has
// variance f s_before^2 + (1 - f) s_after^2; f is integrated with 16-point Gauss-Legendre.
// tau < 0 means every step is "after", tau >= n every step "before".
struct SwitchTimeOptions {
  bool order_known = false;  // true: sigma_a before the switch; false: both orders, prior 1/2 each
  double t_min = 0.0;
  double t_max = -1.0;       // < 0: the number of steps n
};
struct SwitchTimePosterior {
  double median = 0;  // posterior median of tau (minimizes the expected absolute error)
  double mean = 0;
  double expected_abs_error = 0;  // E[|tau - median| | data]: the posterior's own MAE forecast
  double p_a_first = 0;        // posterior probability that sigma_a comes before the switch
  std::vector<double> step_mass;  // [steps]: P(m <= tau < m+1 | data)
};
SwitchTimePosterior switch_time_posterior(std::span<const float> dx, double sigma_a,
                                          double sigma_b, const SwitchTimeOptions& opt = {},
                                          int dims = 1);
std::vector<SwitchTimePosterior> switch_time_posterior(const SeriesBatch& batch, double sigma_a,
                                                       double sigma_b,
                                                       const SwitchTimeOptions& opt = {},
                                                       bool keep_mass = false);

// Switch at a known candidate step t0 (1 <= t0 <= n-1): profile log-likelihood ratio of separate
// MLE variances before/after against one variance; stat = 2 llr, p_value from chi-square(1).
struct FixedSwitchTest {
  double llr = 0;
  double stat = 0;
  double p_value = 1;
};
FixedSwitchTest fixed_switch_test(std::span<const float> dx, std::int64_t t0, int dims = 1);

// Bayes classifiers P(switch at t0 | data) for a prior probability `prior` of a switch.
// Known stds: no switch = every step sigma_a or every step sigma_b (1/2 each); switch = sigma_a then
// sigma_b or sigma_b then sigma_a (1/2 each).
double switch_probability_known(std::span<const float> dx, std::int64_t t0, double sigma_a,
                                double sigma_b, double prior = 0.5, int dims = 1);
// Unknown stds, i.i.d. U(0, sigma_max): no switch = one std for all steps; switch = independent
// stds before and after. The std priors are integrated exactly (upper incomplete gamma function).
double switch_probability_uniform(std::span<const float> dx, std::int64_t t0, double sigma_max,
                                  double prior = 0.5, int dims = 1);
std::vector<double> switch_probability_known(const SeriesBatch& batch, std::int64_t t0,
                                             double sigma_a, double sigma_b, double prior = 0.5);
std::vector<double> switch_probability_uniform(const SeriesBatch& batch, std::int64_t t0,
                                               double sigma_max, double prior = 0.5);

// ---------------------------------------------------------------------------------------------
// Tracks with gaps and localization noise (real data). A track is n localizations at increasing
// frame numbers that may skip frames. Model per spatial dimension, for a displacement that spans
// g frames (g = 1 without a gap) inside one diffusive state:
//   var(dx) = sigma2 (g - 2 R) + 2 loc2,
// sigma2 = 2 D dt the diffusive variance per frame, loc2 the localization variance, R the
// motion-blur coefficient in [0, 1/4]. The lag-1 correlation of successive displacements that
// noise and blur cause (cov = R sigma2 - loc2) is ignored by the likelihoods below (it is what the
// CVE uses). sigma2 and loc2 are in the squared unit of the positions.

// Displacements between successive localizations of a track with their frame gaps.
struct GappedSteps {
  std::vector<float> dx;  // [steps, dims] row-major
  std::vector<int> gap;   // [steps]: frames spanned by each displacement (>= 1)
  int dims = 1;
  std::int64_t steps() const { return static_cast<std::int64_t>(gap.size()); }
};
// positions: [n, dims] row-major, frames: [n] strictly increasing, n >= 2.
GappedSteps track_steps(std::span<const float> positions, std::span<const std::int64_t> frames,
                        int dims);

// A read-only view of one gapped series; gap empty = every gap is 1.
struct GappedView {
  std::span<const float> dx;
  std::span<const int> gap;
};
inline GappedView view_of(const GappedSteps& s) { return {s.dx, s.gap}; }

// Maximum-likelihood sigma2 under the model above with loc2 and R known (zero mean, independent
// displacements), with the profile-likelihood interval at `level` (the set where 2 (ll_max - ll)
// <= the chi-square(1) quantile). Without noise (loc2 = 0, R = 0) the estimate is
// sum(dx^2 / g) / (steps dims). lo can be 0 when the
// noise explains the data; the estimate is then 0 too.
struct MleFit {
  double sigma2 = 0;
  double lo = 0;
  double hi = 0;
  std::int64_t samples = 0;  // steps * dims
};
MleFit mle_gapped(GappedView s, int dims, double loc2 = 0, double blur = 0, double level = 0.95);

// CVE (Vestergaard et al. 2014) from the consecutive-frame displacements only (g = 1) and the
// products of successive consecutive-frame displacements; a gap breaks the series. sigma2 and
// loc2 as in cve(); the interval is estimate -+ z sqrt(var) with Vestergaard's variance
//   var(sigma2-hat) = sigma2^2 [(6 + 4 e + 2 e^2) / N + 4 (1 + e)^2 / N^2] / dims,
//   e = 2 loc2 / sigma2 - 2 R,
// evaluated at the estimates (e clamped to >= 0), N the number of consecutive-frame steps.
// Needs at least one pair of successive consecutive-frame steps (else pairs = 0 and NaN values).
struct CveFit {
  double sigma2 = 0;
  double loc2 = 0;
  double lo = 0;
  double hi = 0;
  std::int64_t steps = 0;  // consecutive-frame displacements used (N)
  std::int64_t pairs = 0;  // successive pairs of them
};
CveFit cve_gapped(GappedView s, int dims, double blur = 0, double level = 0.95);
// The same sums pooled over many tracks (one sigma2, one loc2 for all; e.g. the pooled loc2 the
// HMM uses). The interval treats all steps as one series of N.
CveFit cve_gapped_pooled(std::span<const GappedView> tracks, int dims, double blur = 0,
                         double level = 0.95);

// MSD(lag) by frame lag: the mean over all pairs of localizations lag frames apart (gaps leave
// pairs out, they never shift lags), per dimension, for lag = 1..max_lag. count[lag-1] is the
// number of pairs (0: msd NaN).
struct MsdCurve {
  std::vector<int> lag;
  std::vector<double> msd;
  std::vector<std::int64_t> count;
};
MsdCurve msd_by_frame_lag(std::span<const float> positions, std::span<const std::int64_t> frames,
                          int dims, int max_lag);
// Least squares log MSD = log c + alpha log lag over the lags with count > 0 and msd > 0 (NaN if
// fewer than 2). Noise makes alpha < 1 at short lags.
struct PowerLaw {
  double alpha = 0;
  double prefactor = 0;  // c: MSD(1 frame) of the fitted line
};
PowerLaw fit_msd_power_law(const MsdCurve& c);

// Two-sided standard normal quantile z with P(|Z| <= z) = level, and the chi-square(1) quantile z^2.
double normal_quantile_two_sided(double level);

// HMM on gapped, noisy series. HmmParams.sigma[k] is the diffusive std per frame sqrt(sigma2_k)
// (not the emission std); a displacement over g frames, emitted by the state at its start, has
// variance sigma2_k (g - 2R) + 2 loc2 per dimension, and the state after it follows trans^g
// (the chain runs on the frame grid; the state is taken as constant over a gap, an approximation
// exact when there are no gaps).
struct NoiseModel {
  double loc2 = 0;  // localization variance, shared by all states and tracks
  double blur = 0;  // R in [0, 1/4]
};
HmmPosterior forward_backward_gapped(GappedView s, int dims, const HmmParams& p,
                                     const NoiseModel& noise);
ViterbiPath viterbi_gapped(GappedView s, int dims, const HmmParams& p, const NoiseModel& noise);
// Pooled EM: E-step exact under the model; M-step: sigma2_k maximises the expected emission
// log-likelihood (a one-dimensional search; closed form without noise), trans from the expected
// transitions over one-frame steps only (those over gaps are not used there), init as fit_hmm.
EmFit fit_hmm_gapped(std::span<const GappedView> tracks, int dims, int K, const NoiseModel& noise,
                     const EmOptions& opt = {});
EmFit fit_hmm_gapped_from(std::span<const GappedView> tracks, int dims, const HmmParams& start,
                          const NoiseModel& noise, const EmOptions& opt = {});
// BIC over K = 1..k_max with hmm_parameter_count(K) and ln(total steps), as select_states_bic.
BicSelection select_states_bic_gapped(std::span<const GappedView> tracks, int dims, int k_max,
                                      const NoiseModel& noise, const EmOptions& opt = {});

// Continuous-time rates from a one-frame transition matrix P (K x K): Q = log(P) (principal
// matrix logarithm, per frame) when it exists and is a valid generator up to clipping of small
// negative off-diagonal entries; otherwise (or if exact == false) the dwell form
// Q_ii = ln P_ii, Q_ij = -ln P_ii P_ij / (1 - P_ii). Divide by the frame interval for 1/s.
std::vector<double> transition_generator(const std::vector<double>& P, int K, bool* exact = nullptr);
// Stationary distribution of a row-stochastic K x K matrix (power iteration).
std::vector<double> stationary_distribution(const std::vector<double>& P, int K);

}  // namespace sptrain::baselines

// Decoding of per-step state log-probabilities (a segmentation model's output) into one state
// path, and what a spec implies for it: the decoding rule, and for a Poisson or Markov spec its
// chain as an HMM. Shared by `sptrain predict` and `sptrain eval`.
//
//   auto lp = log_softmax_rows(logits, steps, K);            // (steps, K)
//   decode(default_decode_rule(spec.params, K), lp, steps, K, hp, 0, path);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sptrain/baselines.hpp"
#include "sptrain/sim_params.hpp"

namespace sptrain {

// Per-step log-probabilities (S x K) from a segmentation model's logits: a log-softmax per row.
std::vector<double> log_softmax_rows(const float* logits, int64_t S, int K);

// How a per-step model's log-probabilities become one state path:
//   Argmax  the path maximizing sum_t lp[t][s_t] - penalty * #changes (penalty 0: per-step argmax);
//   Single  exactly one change of state at the best step (a spec with one switch per trajectory);
//   Chain   Viterbi with the chain's per-step transition matrix (and initial distribution) over the
//           per-step log-probabilities taken as emissions (Poisson / Markov specs).
enum class DecodeRule { Argmax, Single, Chain };
std::string decode_rule_name(DecodeRule r);  // "argmax", "single", "chain"
// The rule a spec implies: Single when every trajectory has exactly one switch, Chain for Poisson
// and Markov switching between `outputs` states, Argmax otherwise.
DecodeRule default_decode_rule(const SimParams& p, int outputs);
// A sentence naming the rule and where it comes from, e.g. "one switch per trajectory (the
// training spec): the best single change point".
std::string decode_rule_description(DecodeRule r, double penalty);

void decode_path(const std::vector<double>& lp, int64_t S, int K, double penalty, std::vector<int>& path);
// Exactly one change (a -> b != a at step k, 1 <= k < S); S == 1 gives one state.
void decode_single_switch(const std::vector<double>& lp, int64_t S, int K, std::vector<int>& path);
// Viterbi over emissions lp with transition matrix trans (K x K, row-major) and initial init.
void decode_chain(const std::vector<double>& lp, int64_t S, int K, const std::vector<double>& trans,
                  const std::vector<double>& init, std::vector<int>& path);
// Dispatch; hp is used by Chain only.
void decode(DecodeRule r, const std::vector<double>& lp, int64_t S, int K, const baselines::HmmParams& hp,
            double penalty, std::vector<int>& path);

// Whether the spec's state sequence is a chain the HMM baselines know exactly: Poisson or Markov
// switching between fixed states.
bool is_known_chain(const SimParams& p);
// Whether the spec switches as a chain (Poisson or Markov), whatever its step-size prior.
bool is_chain(const SimParams& p);
// The HMM of a chain spec with emission stds sigma: uniform jumps at the Poisson rate with a
// uniform start, or the Markov chain's per-step transition matrix (exp of the generator over one
// step, or the discrete chain's own matrix) and its initial distribution.
baselines::HmmParams chain_hmm(const SimParams& p, const std::vector<double>& sigma);
// Count bins of the switch-count posterior for a chain spec over S steps: room for 4x the expected
// switches of the fastest state.
int count_bins(const SimParams& p, int64_t S);

}  // namespace sptrain

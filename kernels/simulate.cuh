// Per-trajectory simulation bodies, shared by the CPU loop (src/cpu/simulate_cpu.cpp) and the CUDA
// kernels (kernels/simulate.cu). A trajectory is a pure function of (seed, global index): each
// purpose (setup, switching, increments, noise) has its own Philox key derived from the seed, and the
// trajectory's global index is the Philox subsequence (DESIGN.md rule 1).
//
// Time runs in steps: position j is at time j, step j covers [j, j+1). Switches happen in continuous
// time; a step containing switches gets the integrated variance sum(duration_k * sigma_k^2).
//
// Array letters: N trajectories in this call, L = length positions, S = L - 1 steps, D = dims,
// K = states, C = max recorded switch times.
#pragma once
#include <sptrain/sim_params.hpp>

#include "common.cuh"
#include "philox_normal.cuh"

namespace sptrain::sim {

// kExtra: the per-trajectory draws of the range keys (noise, exposure, rate factor, state ratios),
// a stream of its own so that specs without those keys keep their exact trajectories.
enum Purpose : uint64_t { kSetup = 1, kSwitch = 2, kIncrement = 3, kNoise = 4, kExtra = 5 };

SPTRAIN_HD inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
// The Philox seed of one purpose: distinct purposes give unrelated streams for the same user seed.
SPTRAIN_HD inline uint64_t purpose_seed(uint64_t seed, uint64_t purpose) {
  return splitmix64(seed ^ splitmix64(purpose));
}

// Destination arrays; row r of each holds trajectory first_index + r. The last three (the parameters
// drawn per trajectory, or the spec's fixed values) may be null where nobody reads them.
struct Outputs {
  float* positions;        // (N, L, D)
  float* step_sigma;       // (N, S) sqrt of each step's variance
  uint8_t* step_state;     // (N, S) state occupying most of the step
  float* state_sigma;      // (N, K) step std of each state for this trajectory
  float* traj_sigma;       // (N) sqrt(mean step variance)
  int32_t* n_switches;     // (N) switches in [0, S)
  float* switch_times;     // (N, C) continuous times in steps, NaN after the last
  int32_t* initial_state;  // (N)
  float* localization = nullptr;  // (N) localization noise std (0 without noise)
  float* exposure = nullptr;      // (N) exposure fraction of the frame (0 without blur)
  float* rate_factor = nullptr;   // (N) factor on every switching rate (1 without a range)
};

struct Setup {
  float sigma[kMaxStates];
  float var[kMaxStates];
  int init;
  float start[3];
  double t_single;  // time of the single switch (infinity if none)
  float noise;        // localization noise std of this trajectory
  float exposure;     // exposure of this trajectory (fraction of the frame)
  float rate_factor;  // factor on every switching rate of this trajectory
};

// u in (0, 1] to [low, high], linearly or in log.
SPTRAIN_HD inline float range_draw(float low, float high, bool log_scale, float u) {
  if (log_scale) return expf(logf(low) + u * (logf(high) - logf(low)));
  return low + u * (high - low);
}

// Draws of the extra stream in their fixed order: noise, exposure, rate factor, then the K - 1 state
// ratios; each only when its key is used. The noise comes first so that the position kernels can
// read it without the rest (trajectory_noise).
SPTRAIN_HD inline void draw_extras(const SimParams& p, uint64_t seed, uint64_t index, Setup& s) {
  s.noise = p.loc_noise;
  s.exposure = p.exposure;
  s.rate_factor = 1.0f;
  if (!p.extras()) return;
  curandStatePhilox4_32_10_t rs;
  curand_init(purpose_seed(seed, kExtra), index, 0, &rs);
  if (p.noise_prior != PriorKind::Fixed)
    s.noise = range_draw(p.noise_low, p.noise_high, p.noise_prior == PriorKind::LogUniform, curand_uniform(&rs));
  if (p.exposure_range) s.exposure = range_draw(p.exposure_low, p.exposure_high, false, curand_uniform(&rs));
  if (p.rate_factor_low > 0)
    s.rate_factor = range_draw(p.rate_factor_low, p.rate_factor_high, true, curand_uniform(&rs));
  if (p.ratio_low > 0)
    for (int k = 1; k < p.n_states; ++k)
      s.sigma[k] = s.sigma[k - 1] * range_draw(p.ratio_low, p.ratio_high, true, curand_uniform(&rs));
}

// The localization noise std of trajectory `index` (the first draw of its extra stream).
SPTRAIN_HD inline float trajectory_noise(const SimParams& p, uint64_t seed, uint64_t index) {
  if (p.noise_prior == PriorKind::Fixed) return p.loc_noise;
  curandStatePhilox4_32_10_t rs;
  curand_init(purpose_seed(seed, kExtra), index, 0, &rs);
  return range_draw(p.noise_low, p.noise_high, p.noise_prior == PriorKind::LogUniform, curand_uniform(&rs));
}

// Row r of the optional outputs: the noise, exposure and rate factor the trajectory was made with.
SPTRAIN_HD inline void write_drawn(const Setup& s, int64_t r, const Outputs& o) {
  if (o.localization) o.localization[r] = s.noise;
  if (o.exposure) o.exposure[r] = s.exposure;
  if (o.rate_factor) o.rate_factor[r] = s.rate_factor;
}

SPTRAIN_HD inline int sample_cdf(const float* cdf, int n, float u) {
  for (int k = 0; k < n - 1; ++k)
    if (u <= cdf[k]) return k;
  return n - 1;
}

SPTRAIN_HD inline float draw_prior(const SimParams& p, int k, curandStatePhilox4_32_10_t* rs) {
  switch (p.prior) {
    case PriorKind::Fixed: return p.sigma[k];
    case PriorKind::Weibull: {  // loc + scale * (-log u)^(1/shape), u in (0, 1]
      float u = curand_uniform(rs);
      return p.prior_c + p.prior_b * powf(-logf(u), 1.0f / p.prior_a);
    }
    case PriorKind::LogUniform: {
      float u = curand_uniform(rs);
      return expf(logf(p.prior_a) + u * (logf(p.prior_b) - logf(p.prior_a)));
    }
    case PriorKind::Uniform: {
      float u = curand_uniform(rs);
      return p.prior_a + u * (p.prior_b - p.prior_a);
    }
  }
  return 0;
}

SPTRAIN_HD inline Setup make_setup(const SimParams& p, uint64_t seed, uint64_t index) {
  curandStatePhilox4_32_10_t rs;
  curand_init(purpose_seed(seed, kSetup), index, 0, &rs);
  Setup s;
  for (int k = 0; k < p.n_states; ++k) s.sigma[k] = draw_prior(p, k, &rs);
  if (p.sigma_order)  // ascending: state 0 is the slowest (insertion sort, K <= 8)
    for (int k = 1; k < p.n_states; ++k)
      for (int j = k; j > 0 && s.sigma[j] < s.sigma[j - 1]; --j) {
        float t = s.sigma[j];
        s.sigma[j] = s.sigma[j - 1];
        s.sigma[j - 1] = t;
      }
  s.init = sample_cdf(p.initial_cdf, p.n_states, curand_uniform(&rs));
  for (int d = 0; d < p.dims; ++d)
    s.start[d] = p.start_low + (p.start_high - p.start_low) * (1.0f - curand_uniform(&rs));
  s.t_single = INFINITY;
  if (p.switching == SwitchKind::Single) {
    float u_has = curand_uniform(&rs), u_t = curand_uniform(&rs);
    if (u_has <= p.single_prob)
      s.t_single = p.single_time >= 0 ? double(p.single_time)
                                      : p.single_tmin + double(1.0f - u_t) * (p.single_tmax - p.single_tmin);
  }
  draw_extras(p, seed, index, s);  // may replace sigma[1..K-1] (state ratios)
  for (int k = 0; k < p.n_states; ++k) s.var[k] = s.sigma[k] * s.sigma[k];
  return s;
}

// Walks the state path forward in continuous time, integrating sigma^2 over intervals.
struct Walker {
  const SimParams* p;
  const Setup* su;
  curandStatePhilox4_32_10_t rs;
  int cur;
  int pending;       // state after the next switch
  double t;          // current time
  double t_next;     // time of the next switch (infinity if none)
  double horizon;    // no switches are scheduled at or after this time
  double label_end;  // switches before this time are counted in the labels
  int n_sw;
  float* times;      // recorded switch times (capacity cap), may be null
  int cap;
  double occ[kMaxStates];  // time spent in each state since reset_window()
  double first_sw;         // first switch in the current window (infinity if none)
  int window_first_state;

  SPTRAIN_HD void init(const SimParams& prm, const Setup& s, uint64_t seed, uint64_t index, double horizon_,
                       float* times_, int cap_) {
    p = &prm;
    su = &s;
    curand_init(purpose_seed(seed, kSwitch), index, 0, &rs);
    cur = s.init;
    t = 0;
    horizon = horizon_;
    label_end = prm.steps();
    n_sw = 0;
    times = times_;
    cap = cap_;
    if (p->switching == SwitchKind::Single) {
      t_next = s.t_single < horizon ? s.t_single : INFINITY;
      pending = other_state();
    } else {
      schedule();
    }
    reset_window();
  }

  SPTRAIN_HD void reset_window() {
    for (int k = 0; k < p->n_states; ++k) occ[k] = 0;
    first_sw = INFINITY;
    window_first_state = cur;
  }

  // Uniformly one of the states other than cur.
  SPTRAIN_HD int other_state() {
    int K = p->n_states;
    if (K < 2) return cur;
    int j = int((1.0f - curand_uniform(&rs)) * float(K - 1));  // [0, K-1)
    if (j > K - 2) j = K - 2;
    return (cur + 1 + j) % K;
  }

  SPTRAIN_HD double exp_wait(float rate) { return -double(logf(curand_uniform(&rs))) / double(rate); }

  // Draws the next switch after time t from state cur.
  SPTRAIN_HD void schedule() {
    t_next = INFINITY;
    switch (p->switching) {
      case SwitchKind::Poisson:
        t_next = t + exp_wait(p->rate * su->rate_factor);
        pending = other_state();
        break;
      case SwitchKind::Markov: {
        float r = p->exit_rate[cur] * su->rate_factor;
        if (r > 0) {
          t_next = t + exp_wait(r);
          pending = sample_cdf(p->jump_cdf[cur], p->n_states, curand_uniform(&rs));
        }
        break;
      }
      case SwitchKind::MarkovDiscrete:  // transitions at the frame boundaries 1, 2, ...
        for (double k = floor(t) + 1; k < horizon; k += 1) {
          int nx = sample_cdf(p->jump_cdf[cur], p->n_states, curand_uniform(&rs));
          if (nx != cur) {
            t_next = k;
            pending = nx;
            break;
          }
        }
        break;
      default: break;  // None, and Single (whose only switch is set in init)
    }
    if (!(t_next < horizon)) t_next = INFINITY;
  }

  // Moves to t_end, returning the integral of sigma^2 over [t, t_end].
  SPTRAIN_HD double advance(double t_end) {
    double v = 0;
    while (t_next < t_end) {
      double dur = t_next - t;
      v += dur * su->var[cur];
      occ[cur] += dur;
      t = t_next;
      if (t < label_end) {
        if (times && n_sw < cap) times[n_sw] = float(t);
        ++n_sw;
      }
      if (first_sw == INFINITY) first_sw = t;
      cur = pending;
      if (p->switching == SwitchKind::Single) t_next = INFINITY;
      else schedule();
    }
    v += (t_end - t) * su->var[cur];
    occ[cur] += t_end - t;
    t = t_end;
    return v;
  }

  SPTRAIN_HD int majority_state() const {
    int best = 0;
    for (int k = 1; k < p->n_states; ++k)
      if (occ[k] > occ[best]) best = k;
    return best;
  }
};

// Labels, step sigmas and the start position (written to positions[r][0]) of an unblurred
// trajectory; the positions themselves follow from increment_at().
SPTRAIN_HD inline void simulate_labels(const SimParams& p, uint64_t seed, uint64_t index, int64_t r, Outputs o) {
  const int S = p.steps(), K = p.n_states, C = p.max_switch_times;
  Setup su = make_setup(p, seed, index);
  for (int k = 0; k < K; ++k) o.state_sigma[r * K + k] = su.sigma[k];
  o.initial_state[r] = su.init;
  write_drawn(su, r, o);
  for (int d = 0; d < p.dims; ++d) o.positions[r * int64_t(p.length) * p.dims + d] = su.start[d];
  Walker w;
  w.init(p, su, seed, index, double(S), o.switch_times + r * C, C);
  float* sig = o.step_sigma + r * int64_t(S);
  uint8_t* st = o.step_state + r * int64_t(S);
  double sum_v = 0;
  for (int j = 0; j < S;) {
    // Steps [j, j_end) hold no switch (a switch at exactly time k belongs to step k, with f = 0):
    // fill them as one run.
    const int j_end = w.t_next >= double(S) ? S : int(floor(w.t_next));
    if (j_end > j) {
      const float s = su.sigma[w.cur];
      const uint8_t k = uint8_t(w.cur);
      for (int i = j; i < j_end; ++i) {
        sig[i] = s;
        st[i] = k;
      }
      sum_v += double(j_end - j) * su.var[w.cur];
      w.t = j_end;
      j = j_end;
      continue;
    }
    // Step j contains at least one switch.
    w.reset_window();
    double v = w.advance(double(j + 1));
    if (p.blend == Blend::ReportCode && w.first_sw != INFINITY) {
      double f = w.first_sw - j;
      double sd = (1 - f) * su.sigma[w.window_first_state] + f * su.sigma[w.cur];
      v = sd * sd;
    }
    sum_v += v;
    sig[j] = sqrtf(float(v));
    st[j] = uint8_t(w.majority_state());
    ++j;
  }
  o.traj_sigma[r] = sqrtf(float(sum_v / S));
  o.n_switches[r] = w.n_sw;
  for (int c = w.n_sw; c < C; ++c) o.switch_times[r * C + c] = NAN;
}

// Increment of step j along axis d of trajectory `index`, given that step's sigma.
SPTRAIN_HD inline float increment_at(rng::PhiloxKey key_inc, uint64_t index, int dims, int j, int d, float sigma) {
  return sigma * rng::normal_at(key_inc, index, uint64_t(j) * dims + d);
}

// Localization noise of position j along axis d.
SPTRAIN_HD inline float noise_at(rng::PhiloxKey key_noise, uint64_t index, int dims, int j, int d, float std) {
  return std * rng::normal_at(key_noise, index, uint64_t(j) * dims + d);
}

// A whole blurred trajectory, sequentially: the path is integrated on blur_substeps substeps per
// frame, and position i is the time average (trapezoid rule over m = round(exposure * substeps)
// substeps) of the path over [i, i + exposure]. Labels as in simulate_labels.
SPTRAIN_HD inline void simulate_blurred(const SimParams& p, uint64_t seed, uint64_t index, int64_t r, Outputs o) {
  const int S = p.steps(), K = p.n_states, C = p.max_switch_times, D = p.dims, M = p.blur_substeps;
  Setup su = make_setup(p, seed, index);
  int m = int(su.exposure * M + 0.5f);
  if (m < 1) m = 1;
  if (m > M) m = M;
  const double h = 1.0 / M;
  const rng::PhiloxKey key_inc = rng::philox_key(purpose_seed(seed, kIncrement));
  const rng::PhiloxKey key_noise = rng::philox_key(purpose_seed(seed, kNoise));
  for (int k = 0; k < K; ++k) o.state_sigma[r * K + k] = su.sigma[k];
  o.initial_state[r] = su.init;
  write_drawn(su, r, o);
  Walker w;
  w.init(p, su, seed, index, double(S) + double(m) * h, o.switch_times + r * C, C);
  float x[3], acc[3];
  for (int d = 0; d < D; ++d) x[d] = su.start[d];
  float* pos = o.positions + r * int64_t(p.length) * D;
  double sum_v = 0;
  for (int i = 0; i <= S; ++i) {
    for (int d = 0; d < D; ++d) acc[d] = 0.5f * x[d];
    w.reset_window();
    double v_step = 0;
    const int last = i < S ? M : m;
    for (int s = 1; s <= last; ++s) {
      double vs = w.advance(i + s * h);
      v_step += vs;
      float sd = sqrtf(float(vs));
      for (int d = 0; d < D; ++d) {
        x[d] += sd * rng::normal_at(key_inc, index, (uint64_t(i) * M + (s - 1)) * D + d);
        if (s < m) acc[d] += x[d];
        else if (s == m) acc[d] += 0.5f * x[d];
      }
    }
    for (int d = 0; d < D; ++d) {
      float y = acc[d] / float(m);
      if (su.noise > 0) y += noise_at(key_noise, index, D, i, d, su.noise);
      pos[int64_t(i) * D + d] = y;
    }
    if (i < S) {
      sum_v += v_step;
      o.step_sigma[r * int64_t(S) + i] = sqrtf(float(v_step));
      o.step_state[r * int64_t(S) + i] = uint8_t(w.majority_state());
    }
  }
  o.traj_sigma[r] = sqrtf(float(sum_v / S));
  o.n_switches[r] = w.n_sw;
  for (int c = w.n_sw < C ? w.n_sw : C; c < C; ++c) o.switch_times[r * C + c] = NAN;
}

}  // namespace sptrain::sim

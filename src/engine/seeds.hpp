// Every purpose a seed is derived for, in one place, so that "which stream is this?" has one answer.
// A purpose's tag is XORed into the user's seed (then mixed, where the call site says so); distinct
// tags give unrelated streams for the same user seed. The tags are ASCII words, so they read in a
// hex dump. Changing one changes every result that depends on it: they are part of the format of
// reproducible runs. The simulator's own per-trajectory purposes (setup, switching, increments,
// noise, extra draws) are sim::Purpose in kernels/simulate.cuh.
#pragma once
#include <cstdint>

namespace sptrain::seeds {

constexpr uint64_t kValidation = 0x76616c69646174ull;   // "validat": the validation set (data.seed)
constexpr uint64_t kTest = 0x7465737473657473ull;       // "testsets": the test set (data.seed)
constexpr uint64_t kShuffle = 0x73687566ull;            // "shuf": the fixed-data permutation per epoch
constexpr uint64_t kEval = 0x6576616c75617465ull;       // "evaluate": eval's generated trajectories
constexpr uint64_t kInit = 0x5eed1a17e5ull;             // the model's initial weights (train.seed)
constexpr uint64_t kBootstrap = 0x626f6f74ull;          // "boot": fit's bootstrap over tracks

}  // namespace sptrain::seeds

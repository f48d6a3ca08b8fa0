# baselines: classical estimators, hidden Markov model and switch detectors (CPU, OpenMP).
target_sources(sptrain PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/estimators.cpp
  ${CMAKE_CURRENT_LIST_DIR}/hmm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/hmm_fit.cpp
  ${CMAKE_CURRENT_LIST_DIR}/hmm_gapped.cpp
  ${CMAKE_CURRENT_LIST_DIR}/switch_detect.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tracks.cpp)

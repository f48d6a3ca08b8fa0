target_sources(sptrain PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/atomic_file.cpp
  ${CMAKE_CURRENT_LIST_DIR}/checkpoint.cpp
  ${CMAKE_CURRENT_LIST_DIR}/metrics_log.cpp
  ${CMAKE_CURRENT_LIST_DIR}/npy.cpp
  ${CMAKE_CURRENT_LIST_DIR}/npz_read.cpp
  ${CMAKE_CURRENT_LIST_DIR}/plots.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trajectories.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trajectory_read.cpp)

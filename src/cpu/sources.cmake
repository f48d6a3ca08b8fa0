target_sources(sptrain PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/philox_normal.cpp
  ${CMAKE_CURRENT_LIST_DIR}/simulate_cpu.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cpu_backend.cpp
  ${CMAKE_CURRENT_LIST_DIR}/make_backend.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ops_conv.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ops_dense.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ops_loss.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ops_norm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ops_pool.cpp)

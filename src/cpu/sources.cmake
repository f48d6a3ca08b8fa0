target_sources(sptrain PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/philox_normal.cpp
  ${CMAKE_CURRENT_LIST_DIR}/simulate_cpu.cpp)

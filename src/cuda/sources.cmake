target_sources(sptrain PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/check.cpp
  ${CMAKE_CURRENT_LIST_DIR}/device_buffer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/simulate_cuda.cpp
  ${PROJECT_SOURCE_DIR}/kernels/simulate.cu
  ${PROJECT_SOURCE_DIR}/kernels/features.cu)
set_source_files_properties(${PROJECT_SOURCE_DIR}/kernels/simulate.cu ${PROJECT_SOURCE_DIR}/kernels/features.cu
  PROPERTIES COMPILE_OPTIONS "-Xptxas=-v;-lineinfo")

target_sources(sptrain PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/check.cpp
  ${CMAKE_CURRENT_LIST_DIR}/device_buffer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/simulate_cuda.cpp
  ${CMAKE_CURRENT_LIST_DIR}/conv_cudnn.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cuda_backend.cu
  ${CMAKE_CURRENT_LIST_DIR}/device_data.cu
  ${CMAKE_CURRENT_LIST_DIR}/graph_capture.cpp
  ${PROJECT_SOURCE_DIR}/kernels/simulate.cu
  ${PROJECT_SOURCE_DIR}/kernels/features.cu)
# Register spills are build errors: ptxas warns on every spill and treats warnings as errors, so
# CI (which compiles every kernel) fails on a spilling project kernel; a kernel that must spill gets
# a comment saying why and its file these flags without -Werror. -v prints each kernel's registers
# and stack into the build log. tests/check_spill_flags.sh proves the flags reject a spilling kernel;
# tests/check_spills.sh reads the same facts from a binary with cuobjdump where that tool exists.
set(SPTRAIN_PTXAS_FLAGS "-Xptxas=-v;-Xptxas=--warn-on-spills;-Xptxas=--warning-as-error;-lineinfo"
  CACHE INTERNAL "ptxas flags of the project's kernels")
set_source_files_properties(
  ${PROJECT_SOURCE_DIR}/kernels/simulate.cu ${PROJECT_SOURCE_DIR}/kernels/features.cu
  ${CMAKE_CURRENT_LIST_DIR}/cuda_backend.cu ${CMAKE_CURRENT_LIST_DIR}/device_data.cu
  PROPERTIES COMPILE_OPTIONS "${SPTRAIN_PTXAS_FLAGS}")

# cuDNN 9 (graph API) lives beside the CUDA toolkit's libraries, or where CUDNN_ROOT points.
find_library(SPTRAIN_CUDNN NAMES cudnn libcudnn.so.9 HINTS ${CUDNN_ROOT} ENV CUDNN_ROOT ${CUDAToolkit_LIBRARY_DIR}
  PATH_SUFFIXES lib lib64 REQUIRED)
find_path(SPTRAIN_CUDNN_INCLUDE cudnn.h HINTS ${CUDNN_ROOT} ENV CUDNN_ROOT ${CUDAToolkit_INCLUDE_DIRS}
  PATH_SUFFIXES include REQUIRED)
target_include_directories(sptrain SYSTEM PRIVATE ${SPTRAIN_CUDNN_INCLUDE})
target_link_libraries(sptrain PUBLIC CUDA::cudart_static CUDA::curand CUDA::cublas ${SPTRAIN_CUDNN})
if(TARGET CUDA::nvtx3)
  target_link_libraries(sptrain PUBLIC CUDA::nvtx3)
endif()

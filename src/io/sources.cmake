target_sources(sptrain PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/atomic_file.cpp
  ${CMAKE_CURRENT_LIST_DIR}/checkpoint.cpp
  ${CMAKE_CURRENT_LIST_DIR}/metrics_log.cpp
  ${CMAKE_CURRENT_LIST_DIR}/npy.cpp
  ${CMAKE_CURRENT_LIST_DIR}/npz_read.cpp
  ${CMAKE_CURRENT_LIST_DIR}/plots.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trackmate_xml.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trajectories.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trajectory_read.cpp)

# TrackMate XML is read with expat (Debian libexpat1-dev). The static library when there is one, so
# that binaries carried to a machine without the package still run (as for OpenBLAS).
find_path(SPTRAIN_EXPAT_INCLUDE expat.h REQUIRED)
if(SPTRAIN_STATIC_BLAS)
  find_library(SPTRAIN_EXPAT NAMES libexpat.a expat REQUIRED)
else()
  find_library(SPTRAIN_EXPAT NAMES expat REQUIRED)
endif()
target_include_directories(sptrain SYSTEM PRIVATE ${SPTRAIN_EXPAT_INCLUDE})
target_link_libraries(sptrain PUBLIC ${SPTRAIN_EXPAT})

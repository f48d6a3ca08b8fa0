# Compiler flags shared by every sptrain target (applied through the sptrain_flags interface target).
add_library(sptrain_flags INTERFACE)
target_compile_options(sptrain_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>
  $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-Wall>)
include(CheckCXXCompilerFlag)
if(SPTRAIN_NATIVE)
  target_compile_options(sptrain_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
else()
  check_cxx_compiler_flag(-march=x86-64-v3 SPTRAIN_HAS_X86_64_V3)
  if(SPTRAIN_HAS_X86_64_V3)
    target_compile_options(sptrain_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=x86-64-v3>)
  endif()
endif()
if(SPTRAIN_WITH_CUDA)
  target_compile_definitions(sptrain_flags INTERFACE SPTRAIN_HAVE_CUDA=1)
endif()

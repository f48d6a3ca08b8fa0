# Sanitizer and fuzzing builds (CPU only: configure with -DSPTRAIN_WITH_CUDA=OFF).
#   SPTRAIN_SANITIZE: every target (library, CLI, tests) with AddressSanitizer and
#     UndefinedBehaviorSanitizer; any UB report aborts (-fno-sanitize-recover=undefined).
#   SPTRAIN_FUZZ: also the libFuzzer targets of tests/fuzz (needs clang). The library is compiled
#     with libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link), which the ASan runtime
#     also serves, so one build folder holds both the fuzz targets and a sanitized test suite.
if(SPTRAIN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SPTRAIN_FUZZ needs clang (libFuzzer), e.g. -DCMAKE_CXX_COMPILER=clang++-14")
  endif()
  set(SPTRAIN_SANITIZE ON)
endif()
if(SPTRAIN_SANITIZE)
  if(SPTRAIN_WITH_CUDA)
    message(FATAL_ERROR "SPTRAIN_SANITIZE/SPTRAIN_FUZZ build the CPU code only: add -DSPTRAIN_WITH_CUDA=OFF")
  endif()
  set(sptrain_san -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  target_compile_options(sptrain_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:${sptrain_san} -fno-omit-frame-pointer
                                 $<IF:$<CXX_COMPILER_ID:Clang>,-gline-tables-only,-g1>>)
  target_link_options(sptrain_flags INTERFACE ${sptrain_san})
  if(SPTRAIN_FUZZ)
    target_compile_options(sptrain_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
  endif()
endif()

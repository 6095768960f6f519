# Sanitizer and fuzzing builds (docs/robustness.md, "Fuzzing"). These options
# are for a second build tree without LibTorch, configured by
# tests/fuzz/build.sh (build/sanitize by default):
#   WSSS_SANITIZE  AddressSanitizer + UndefinedBehaviorSanitizer on everything
#                  built (library, binaries, unit tests); any report aborts.
#   WSSS_FUZZ      also libFuzzer coverage on the library and the fuzz targets
#                  of tests/fuzz/ (needs clang; implies WSSS_SANITIZE).
option(WSSS_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(WSSS_FUZZ "Build the libFuzzer targets (clang; implies WSSS_SANITIZE)" OFF)
if(WSSS_FUZZ)
  set(WSSS_SANITIZE ON)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "WSSS_FUZZ needs clang (CMAKE_CXX_COMPILER=clang++), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
endif()
if(WSSS_SANITIZE)
  if(WSSS_WITH_TORCH)
    message(FATAL_ERROR "WSSS_SANITIZE builds the library without LibTorch: add -DWSSS_WITH_TORCH=OFF")
  endif()
  # -O1 keeps the sanitized tests fast enough; frame pointers give whole stacks;
  # no recovery: a UBSan report fails the test like an ASan one.
  set(wsss_sanitize_flags -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1)
  if(WSSS_FUZZ)
    list(APPEND wsss_sanitize_flags -fsanitize=fuzzer-no-link)
  endif()
  add_compile_options(${wsss_sanitize_flags})
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(WSSS_SANITIZE=1)
endif()

# Regenerates lib/src/core/version_info.cpp at build time, so `--version` shows the
# current `git describe` without a reconfigure. The file is rewritten only on change.
set(WSSS_VERSION_CPP ${CMAKE_BINARY_DIR}/generated/version_info.cpp)
add_custom_target(wsss_version_info
  COMMAND ${CMAKE_COMMAND}
          -DSRC_DIR=${CMAKE_SOURCE_DIR} -DOUT=${WSSS_VERSION_CPP}
          -DPROJECT_VERSION=${PROJECT_VERSION}
          -P ${CMAKE_SOURCE_DIR}/cmake/WriteVersion.cmake
  BYPRODUCTS ${WSSS_VERSION_CPP}
  COMMENT "" VERBATIM)
# Also once at configure time, so that the file exists when targets are generated.
execute_process(COMMAND ${CMAKE_COMMAND}
                -DSRC_DIR=${CMAKE_SOURCE_DIR} -DOUT=${WSSS_VERSION_CPP}
                -DPROJECT_VERSION=${PROJECT_VERSION}
                -P ${CMAKE_SOURCE_DIR}/cmake/WriteVersion.cmake)

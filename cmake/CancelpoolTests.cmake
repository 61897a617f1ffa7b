# cancelpool's tests under ctest.
#
# Every *_test.cc in the module folders below (tests/cancel, tests/pool,
# tests/compose, tests/signal, tests/reliability, tests/server) becomes a test named by its path
# (tests/cancel/cancellation_test, tests/reliability/stress_test), built from
# that one file plus gtest_main, linked with every cancelpool library and the
# Abseil components below. The hostile suite (tests/hostile) runs under Bazel
# only: it needs one process per test (Bazel's shard_count) and its TSan
# options. To add a test, add the file: nothing here
# changes unless it needs more than that; then say so in the maps below
# (extra sources, helper binaries, environment) or, if it cannot build
# without Bazel, in CANCELPOOL_CMAKE_SKIPPED_TESTS with the reason.
#
# Tests run in the build directory, with helper binaries at the same
# relative paths as their sources (tests/signal/signal_mode_server), like
# Bazel's runfiles (testing_util::RunfilePath finds them there). The time limit is Bazel's for a medium test.

find_package(GTest REQUIRED)

# The folders whose *_test.cc files are tests here.
set(CANCELPOOL_CMAKE_TEST_DIRS
  tests/cancel
  tests/pool
  tests/compose
  tests/signal
  tests/reliability
  tests/server
)

# Tests that only Bazel builds, and why.
set(CANCELPOOL_CMAKE_SKIPPED_TESTS
  # The example HTTP server's test: needs //examples/server and cpp-httplib,
  # which only Bazel builds (examples/server/BUILD).
  tests/server/server_test.cc
  # Relacy model checkers: need Relacy's headers (Debian's relacy-dev) and
  # a checker build; Bazel runs them in all four configurations.
  tests/reliability/deque_model_test.cc
  tests/reliability/parking_model_test.cc
  tests/reliability/refcount_model_test.cc
)

# Abseil components any test may use.
set(CANCELPOOL_TEST_ABSL_DEPS
  absl::base
  absl::core_headers
  absl::span
  absl::status
  absl::statusor
  absl::str_format
  absl::strings
  absl::synchronization
  absl::time)

set(CANCELPOOL_TEST_TIMEOUT 300)

# Per-test additions, keyed by the test's path without .cc:
#   <test>_SOURCES   more source files (relative to the source root)
#   <test>_DEPS      more libraries
#   <test>_HELPERS   helper binaries (their sources' paths) it runs
#   <test>_ENV       environment variables (NAME=value)
set(tests/signal/signal_shutdown_test_HELPERS tests/signal/signal_mode_server.cc)
set(tests/signal/shutdown_sequence_test_HELPERS tests/signal/sequence_server.cc)
set(tests/reliability/stress_test_DEPS cancelpool_stress_harness)
set(tests/reliability/fuzz_replay_test_SOURCES tests/reliability/fuzz_target.cc)
set(tests/reliability/fuzz_replay_test_DEPS cancelpool_stress_harness)
set(tests/reliability/fuzz_replay_test_ENV
  "CANCELPOOL_FUZZ_CORPUS=${PROJECT_SOURCE_DIR}/tests/reliability/fuzz_corpus")
set(tests/reliability/signal_trials_test_HELPERS
  tests/reliability/signal_trial_server.cc)

# "cancelpool/tests/test_util.h" for the tests and helpers, as Bazel's
# //tests:test_util gives it; the source root for "tests/reliability/...".
set(CANCELPOOL_TEST_INCLUDE_DIR "${PROJECT_BINARY_DIR}/test_include")
cancelpool_link_include_prefix("${CANCELPOOL_TEST_INCLUDE_DIR}" tests)

# Compiles a test binary or helper; $1: its source's path, relative to the
# source root; the rest: more sources and libraries.
function(cancelpool_test_binary src)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEPS")
  get_filename_component(dir "${src}" DIRECTORY)
  get_filename_component(name "${src}" NAME_WE)
  string(REPLACE "/" "_" target "${dir}/${name}")
  list(TRANSFORM arg_SOURCES PREPEND "${PROJECT_SOURCE_DIR}/")
  add_executable(${target} "${PROJECT_SOURCE_DIR}/${src}" ${arg_SOURCES})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${name}
    RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/${dir}")
  target_compile_options(${target} PRIVATE ${CANCELPOOL_COPTS})
  target_include_directories(${target} PRIVATE
    "${CANCELPOOL_TEST_INCLUDE_DIR}" "${PROJECT_SOURCE_DIR}")
  target_link_libraries(${target} PRIVATE
    cancelpool::signal_shutdown cancelpool::pool cancelpool::cancel
    ${CANCELPOOL_TEST_ABSL_DEPS} ${arg_DEPS})
endfunction()

# The randomized-schedule interpreter shared by the stress test and the
# fuzz-corpus replay (Bazel: //tests/reliability:stress_harness).
add_library(cancelpool_stress_harness STATIC
  "${PROJECT_SOURCE_DIR}/tests/reliability/stress_compose.cc"
  "${PROJECT_SOURCE_DIR}/tests/reliability/stress_harness.cc"
  "${PROJECT_SOURCE_DIR}/tests/reliability/stress_main.cc")
target_compile_options(cancelpool_stress_harness PRIVATE ${CANCELPOOL_COPTS})
target_include_directories(cancelpool_stress_harness PUBLIC "${PROJECT_SOURCE_DIR}")
target_link_libraries(cancelpool_stress_harness PUBLIC
  cancelpool::pool cancelpool::cancel ${CANCELPOOL_TEST_ABSL_DEPS})

set(_cancelpool_test_globs "")
foreach(_dir IN LISTS CANCELPOOL_CMAKE_TEST_DIRS)
  list(APPEND _cancelpool_test_globs "${PROJECT_SOURCE_DIR}/${_dir}/*_test.cc")
endforeach()
file(GLOB _cancelpool_tests CONFIGURE_DEPENDS
  RELATIVE "${PROJECT_SOURCE_DIR}" ${_cancelpool_test_globs})
list(SORT _cancelpool_tests)
foreach(_skip IN LISTS CANCELPOOL_CMAKE_SKIPPED_TESTS)
  if(NOT _skip IN_LIST _cancelpool_tests)
    message(WARNING "CANCELPOOL_CMAKE_SKIPPED_TESTS names ${_skip}, which does not exist")
  endif()
endforeach()
list(REMOVE_ITEM _cancelpool_tests ${CANCELPOOL_CMAKE_SKIPPED_TESTS})

set(_cancelpool_helpers_done "")
foreach(_src IN LISTS _cancelpool_tests)
  string(REGEX REPLACE "\\.cc$" "" _test "${_src}")
  string(REPLACE "/" "_" _target "${_test}")
  cancelpool_test_binary("${_src}"
    SOURCES ${${_test}_SOURCES}
    DEPS GTest::gtest_main GTest::gmock ${${_test}_DEPS})
  foreach(_helper IN LISTS ${_test}_HELPERS)
    string(REGEX REPLACE "\\.cc$" "" _helper_name "${_helper}")
    string(REPLACE "/" "_" _helper_target "${_helper_name}")
    if(NOT _helper IN_LIST _cancelpool_helpers_done)
      # GTest's headers: a helper may include test_util.h.
      cancelpool_test_binary("${_helper}" DEPS GTest::gtest)
      list(APPEND _cancelpool_helpers_done "${_helper}")
    endif()
    add_dependencies(${_target} ${_helper_target})
  endforeach()
  add_test(NAME "${_test}" COMMAND ${_target}
    WORKING_DIRECTORY "${PROJECT_BINARY_DIR}")
  set_tests_properties("${_test}" PROPERTIES TIMEOUT ${CANCELPOOL_TEST_TIMEOUT})
  if(${_test}_ENV)
    set_tests_properties("${_test}" PROPERTIES ENVIRONMENT "${${_test}_ENV}")
  endif()
endforeach()

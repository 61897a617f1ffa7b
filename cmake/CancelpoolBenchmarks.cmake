# cancelpool's benchmarks (CANCELPOOL_BUILD_BENCHMARKS=ON), against an
# installed Google Benchmark (Debian's libbenchmark-dev). peer_benchmark,
# which compares with oneTBB and Boost.Asio, is built when both are found.
# The report (benchmarks/report.py) runs under Bazel only:
# `tools/bazel run -c opt //benchmarks:report`.

find_package(benchmark REQUIRED)

add_library(cancelpool_bench_support STATIC
  "${PROJECT_SOURCE_DIR}/benchmarks/support/alloc_counter.cc")
target_compile_options(cancelpool_bench_support PRIVATE ${CANCELPOOL_COPTS})
target_include_directories(cancelpool_bench_support PUBLIC "${PROJECT_SOURCE_DIR}")
target_link_libraries(cancelpool_bench_support PUBLIC
  benchmark::benchmark Threads::Threads)

function(cancelpool_benchmark name)
  add_executable(${name} "${PROJECT_SOURCE_DIR}/benchmarks/${name}.cc")
  set_target_properties(${name} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/benchmarks")
  target_compile_options(${name} PRIVATE ${CANCELPOOL_COPTS})
  target_link_libraries(${name} PRIVATE
    cancelpool::pool cancelpool::cancel absl::status absl::time
    absl::base absl::strings ${ARGN})
endfunction()

cancelpool_benchmark(cancel_benchmark benchmark::benchmark_main)
cancelpool_benchmark(pool_benchmark cancelpool_bench_support)
cancelpool_benchmark(blocking_benchmark cancelpool_bench_support)

find_package(TBB CONFIG QUIET)
find_package(Boost QUIET)
if(TBB_FOUND AND Boost_FOUND)
  cancelpool_benchmark(peer_benchmark cancelpool_bench_support TBB::tbb
    Boost::headers)
else()
  message(STATUS "cancelpool: oneTBB or Boost not found; not building peer_benchmark")
endif()

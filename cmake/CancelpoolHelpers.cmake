# Helpers for cancelpool's CMakeLists.txt.

# cancelpool_link_include_prefix(<dir> <subdir>...)
# Links <dir>/cancelpool/<subdir>/.../x.h to each header under the source
# directory <subdir>, so that "cancelpool/<subdir>/x.h" resolves with <dir>
# on the include path, in the build tree as after installation. Headers, not
# directories, are linked: a linked directory would show its BUILD files to
# a `bazel build //...` run over a build tree inside the checkout.
function(cancelpool_link_include_prefix dir)
  foreach(sub IN LISTS ARGN)
    file(GLOB_RECURSE headers CONFIGURE_DEPENDS
      RELATIVE "${PROJECT_SOURCE_DIR}/${sub}" "${PROJECT_SOURCE_DIR}/${sub}/*.h")
    foreach(header IN LISTS headers)
      set(link "${dir}/cancelpool/${sub}/${header}")
      if(NOT IS_SYMLINK "${link}")
        get_filename_component(link_dir "${link}" DIRECTORY)
        file(MAKE_DIRECTORY "${link_dir}")
        file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${sub}/${header}" "${link}" SYMBOLIC)
      endif()
    endforeach()
  endforeach()
endfunction()

# Compiler options for cancelpool's own code (Bazel: CANCELPOOL_COPTS in
# bazel/copts.bzl); dependencies keep their own.
set(CANCELPOOL_COPTS -Wall -Wextra)
if(CANCELPOOL_WERROR)
  list(APPEND CANCELPOOL_COPTS -Werror)
endif()

# cancelpool_library(<name> SOURCES <src>... DEPS <target>...)
# Defines the library cancelpool_<name>, exported and aliased as
# cancelpool::<name>, with the "cancelpool/" include prefix and C++20.
function(cancelpool_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEPS")
  set(target "cancelpool_${name}")
  add_library(${target} ${arg_SOURCES})
  add_library(cancelpool::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${name}
    POSITION_INDEPENDENT_CODE ON)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE ${CANCELPOOL_COPTS})
  target_include_directories(${target} PUBLIC
    "$<BUILD_INTERFACE:${CANCELPOOL_BUILD_INCLUDE_DIR}>"
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  target_link_libraries(${target} PUBLIC ${arg_DEPS})
  set_property(GLOBAL APPEND PROPERTY CANCELPOOL_LIBRARIES ${target})
endfunction()

# Helpers for cancelpool's CMakeLists.txt.

# cancelpool_link_include_prefix(<dir> <subdir>...)
# Makes <dir>/cancelpool/<subdir> a symbolic link to the source directory
# <subdir>, so that "cancelpool/<subdir>/x.h" resolves with <dir> on the
# include path, in the build tree as after installation.
function(cancelpool_link_include_prefix dir)
  file(MAKE_DIRECTORY "${dir}/cancelpool")
  foreach(sub IN LISTS ARGN)
    set(link "${dir}/cancelpool/${sub}")
    if(IS_SYMLINK "${link}")
      file(READ_SYMLINK "${link}" target)
      if(target STREQUAL "${PROJECT_SOURCE_DIR}/${sub}")
        continue()
      endif()
      file(REMOVE "${link}")
    endif()
    file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${sub}" "${link}" SYMBOLIC)
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

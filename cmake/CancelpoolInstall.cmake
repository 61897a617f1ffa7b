# Install rules: headers under <prefix>/include/cancelpool/{cancel,pool}/,
# the libraries, cancelpoolConfig.cmake with the targets cancelpool::cancel,
# cancelpool::pool and cancelpool::signal_shutdown, and cancelpool.pc.

set(CANCELPOOL_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/cancelpool")

get_property(_cancelpool_libraries GLOBAL PROPERTY CANCELPOOL_LIBRARIES)
install(TARGETS ${_cancelpool_libraries}
  EXPORT cancelpoolTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# Every header, internal/ ones included (the public headers include them),
# except the test-only construction hook (Bazel: testonly //pool:testing).
foreach(_dir cancel pool)
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/${_dir}/"
    DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/cancelpool/${_dir}"
    FILES_MATCHING PATTERN "*.h"
    PATTERN "internal/testing.h" EXCLUDE)
endforeach()

install(EXPORT cancelpoolTargets
  NAMESPACE cancelpool::
  DESTINATION "${CANCELPOOL_INSTALL_CMAKEDIR}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/cancelpoolConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cancelpoolConfig.cmake"
  INSTALL_DESTINATION "${CANCELPOOL_INSTALL_CMAKEDIR}")
# 0.x: a minor version may break the API, so only the same X.Y matches.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cancelpoolConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/cancelpoolConfig.cmake"
  "${PROJECT_BINARY_DIR}/cancelpoolConfigVersion.cmake"
  DESTINATION "${CANCELPOOL_INSTALL_CMAKEDIR}")

# pkg-config: the prefix is found from the .pc file's own location, so
# `cmake --install --prefix DIR` and a moved tree both work. Requires:
# Abseil's own .pc files (Debian's libabsl-dev installs them).
file(RELATIVE_PATH CANCELPOOL_PC_UP
  "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" CANCELPOOL_PC_UP "${CANCELPOOL_PC_UP}")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(CANCELPOOL_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(CANCELPOOL_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(CANCELPOOL_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(CANCELPOOL_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file("${PROJECT_SOURCE_DIR}/cmake/cancelpool.pc.in"
  "${PROJECT_BINARY_DIR}/cancelpool.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/cancelpool.pc"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")

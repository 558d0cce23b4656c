# SPDX-License-Identifier: MIT
# Install script (the last step of `cmake --install`): make the dynamic linker find the new
# libmaillimit*.so.N. Input: MAILLIMIT_LIBDIR (CMAKE_INSTALL_LIBDIR at configure time) and
# the install-time CMAKE_INSTALL_PREFIX.
#
# - DESTDIR set (a package being staged), or no ldconfig: nothing (packages run ldconfig
#   from their own triggers).
# - the library directory is one ldconfig scans (/usr/local/lib, /usr/lib/<multiarch>, ...):
#   as root, run ldconfig; otherwise say that it must be run.
# - any other directory: say how programs will find the libraries.
if(NOT "$ENV{DESTDIR}" STREQUAL "")
  return()
endif()
find_program(_ml_ldconfig ldconfig PATHS /sbin /usr/sbin NO_CACHE)
if(NOT _ml_ldconfig)
  return()
endif()

set(_ml_libdir "${MAILLIMIT_LIBDIR}")
if(NOT IS_ABSOLUTE "${_ml_libdir}")
  set(_ml_libdir "${CMAKE_INSTALL_PREFIX}/${_ml_libdir}")
endif()
file(REAL_PATH "${_ml_libdir}" _ml_real)

# The directories ldconfig scans, one "DIR: (from FILE:LINE)" line each; -N: do not rebuild
# the cache, -X: do not touch links. Works without root.
execute_process(COMMAND ${_ml_ldconfig} -v -N -X
                OUTPUT_VARIABLE _ml_out ERROR_QUIET RESULT_VARIABLE _ml_rc)
set(_ml_searched 0)
string(REPLACE "\n" ";" _ml_lines "${_ml_out}")
foreach(_ml_line IN LISTS _ml_lines)
  if(_ml_line MATCHES "^(/[^:]*):")
    set(_ml_dir "${CMAKE_MATCH_1}")
    if(IS_DIRECTORY "${_ml_dir}")
      file(REAL_PATH "${_ml_dir}" _ml_dir)
      if(_ml_dir STREQUAL _ml_real)
        set(_ml_searched 1)
      endif()
    endif()
  endif()
endforeach()

execute_process(COMMAND id -u OUTPUT_VARIABLE _ml_uid OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
if(NOT _ml_searched)
  message(NOTICE "Note: ${_ml_libdir} is not a directory the dynamic linker searches: run "
                 "programs with LD_LIBRARY_PATH=${_ml_libdir}, or list it in a file in "
                 "/etc/ld.so.conf.d/ and run ldconfig as root")
elseif(_ml_uid STREQUAL "0")
  execute_process(COMMAND ${_ml_ldconfig} RESULT_VARIABLE _ml_rc)
  if(_ml_rc EQUAL 0)
    message(STATUS "Ran ldconfig: the dynamic linker finds the libraries in ${_ml_libdir}")
  else()
    message(WARNING "ldconfig failed (${_ml_rc}); run it as root")
  endif()
else()
  message(NOTICE "Note: run ldconfig as root, so that the dynamic linker finds the new "
                 "libraries in ${_ml_libdir}")
endif()

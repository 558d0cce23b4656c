# SPDX-License-Identifier: MIT
# maillimit_install_dirs(PREFIX): the absolute directories of an installation into PREFIX, for
# the installed files that name them (the systemd unit, the man pages). Called at configure
# time for the build tree's copies and by the install scripts with the prefix given to
# `cmake --install --prefix`, which may differ from the configure-time CMAKE_INSTALL_PREFIX.
#
# Sets, in the caller's scope:
#   ML_SBINDIR     PREFIX/CMAKE_INSTALL_SBINDIR
#   ML_SYSCONFDIR  as GNUInstallDirs: /etc for the prefixes / and /usr, /etc/opt/P for /opt/P,
#                  else PREFIX/etc (an absolute CMAKE_INSTALL_SYSCONFDIR as it is)
#   ML_DATADIR     PREFIX/CMAKE_INSTALL_DATADIR
#   ML_INCLUDEDIR  PREFIX/CMAKE_INSTALL_INCLUDEDIR
#   ML_UNITDIR     PREFIX/MAILLIMIT_SYSTEMD_UNITDIR, or that if absolute
# The CMAKE_INSTALL_* and MAILLIMIT_SYSTEMD_UNITDIR values are the caller's (the install
# scripts set them to the configure-time values first).
function(maillimit_install_dirs prefix)
  string(REGEX REPLACE "/+$" "" p "${prefix}")
  foreach(v SBINDIR DATADIR INCLUDEDIR)
    set(d "${CMAKE_INSTALL_${v}}")
    if(NOT IS_ABSOLUTE "${d}")
      set(d "${p}/${d}")
    endif()
    set(ML_${v} "${d}" PARENT_SCOPE)
  endforeach()
  set(d "${CMAKE_INSTALL_SYSCONFDIR}")
  if(NOT IS_ABSOLUTE "${d}")
    if(p STREQUAL "" OR p STREQUAL "/usr")
      set(d "/${d}")
    elseif(p MATCHES "^/opt/")
      set(d "/${d}${p}")
    else()
      set(d "${p}/${d}")
    endif()
  endif()
  set(ML_SYSCONFDIR "${d}" PARENT_SCOPE)
  set(d "${MAILLIMIT_SYSTEMD_UNITDIR}")
  if(NOT IS_ABSOLUTE "${d}")
    set(d "${p}/${d}")
  endif()
  set(ML_UNITDIR "${d}" PARENT_SCOPE)
endfunction()

# maillimit_install_configure(IN OUT): configure_file(IN OUT @ONLY) at install time with the
# directories of the install prefix (@ML_SBINDIR@, @ML_SYSCONFDIR@, @ML_DATADIR@,
# @ML_INCLUDEDIR@, @ML_UNITDIR@) and @PROJECT_VERSION@. Adds the install(CODE) that does it;
# install OUT after it.
function(maillimit_install_configure in out)
  install(CODE "block()
    include(\"${CMAKE_CURRENT_FUNCTION_LIST_DIR}/MaillimitInstallDirs.cmake\")
    set(CMAKE_INSTALL_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")
    set(CMAKE_INSTALL_SYSCONFDIR \"${CMAKE_INSTALL_SYSCONFDIR}\")
    set(CMAKE_INSTALL_DATADIR \"${CMAKE_INSTALL_DATADIR}\")
    set(CMAKE_INSTALL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
    set(MAILLIMIT_SYSTEMD_UNITDIR \"${MAILLIMIT_SYSTEMD_UNITDIR}\")
    set(PROJECT_VERSION \"${PROJECT_VERSION}\")
    maillimit_install_dirs(\"\${CMAKE_INSTALL_PREFIX}\")
    configure_file(\"${in}\" \"${out}\" @ONLY)
    endblock()")
endfunction()

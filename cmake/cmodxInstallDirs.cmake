# Install-time script, run before anything else is installed (install(SCRIPT)
# from the top-level CMakeLists.txt): records in
# CMODX_BINARY_DIR/install_created_dirs.txt the directories this install is
# about to create (the destination directories and their parents up to and
# including the prefix that do not exist yet), so that the uninstall target
# (cmake/cmodxUninstall.cmake) removes those, and only those, once empty.
# Paths are recorded as install_manifest.txt records files: without
# DESTDIR.  A record from an earlier install into the same place is kept
# (union), so installing twice and uninstalling once still removes them.
# CMODX_INSTALL_DIRS (destinations, relative to the prefix or absolute) and
# CMODX_BINARY_DIR are set by the install rule just before this script.
# The DESTDIR of this install is recorded too (install_destdir.txt): the
# manifest and the directories hold paths without it, so an uninstall under
# another DESTDIR would remove files and empty directories somewhere else
# (a system's /usr/include/cmodx, /usr/lib/pkgconfig); the uninstall
# target refuses that.  A record made under another DESTDIR is dropped.
get_filename_component(_cmodx_prefix "${CMAKE_INSTALL_PREFIX}" ABSOLUTE)
set(_cmodx_record "${CMODX_BINARY_DIR}/install_created_dirs.txt")
set(_cmodx_destdir_record "${CMODX_BINARY_DIR}/install_destdir.txt")
set(_cmodx_created)
set(_cmodx_same_destdir TRUE)
if(EXISTS "${_cmodx_destdir_record}")
  file(READ "${_cmodx_destdir_record}" _cmodx_old_destdir)
  if(NOT _cmodx_old_destdir STREQUAL "DESTDIR=$ENV{DESTDIR}\n")
    set(_cmodx_same_destdir FALSE)
  endif()
endif()
if(EXISTS "${_cmodx_record}" AND _cmodx_same_destdir)
  file(STRINGS "${_cmodx_record}" _cmodx_created)
endif()
file(WRITE "${_cmodx_destdir_record}" "DESTDIR=$ENV{DESTDIR}\n")
foreach(_d IN LISTS CMODX_INSTALL_DIRS)
  if(NOT IS_ABSOLUTE "${_d}")
    set(_d "${_cmodx_prefix}/${_d}")
  endif()
  get_filename_component(_d "${_d}" ABSOLUTE)
  # Walk up to the prefix (an absolute destination outside the prefix: up
  # to the first directory that exists).
  while(NOT EXISTS "$ENV{DESTDIR}${_d}")
    list(APPEND _cmodx_created "${_d}")
    if(_d STREQUAL _cmodx_prefix)
      break()
    endif()
    get_filename_component(_d "${_d}" DIRECTORY)
  endwhile()
endforeach()
list(REMOVE_DUPLICATES _cmodx_created)
string(REPLACE ";" "\n" _cmodx_text "${_cmodx_created}")
file(WRITE "${_cmodx_record}" "${_cmodx_text}\n")

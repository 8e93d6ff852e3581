# Install-time script (install(SCRIPT) from the top-level CMakeLists.txt):
# BINDIR/cmodx-check, a relative symbolic link to DATADIR/cmodx/check/
# cmodx-check, so that the installed tree can be moved (or staged with
# DESTDIR) and the script still finds build-qemu.sh and plugin/ beside its
# real path.  CMODX_INSTALL_BINDIR and CMODX_INSTALL_DATADIR are set by the
# install rule just before this script.
#
# A relative prefix (cmake --install B --prefix ./p) is resolved as CMake's
# own file(INSTALL) resolves it: against the current source directory,
# which for `cmake --install` is the working directory.
get_filename_component(_cmodx_prefix "${CMAKE_INSTALL_PREFIX}" ABSOLUTE)
foreach(_v BINDIR DATADIR)
  if(IS_ABSOLUTE "${CMODX_INSTALL_${_v}}")
    set(_cmodx_${_v} "${CMODX_INSTALL_${_v}}")
  else()
    set(_cmodx_${_v} "${_cmodx_prefix}/${CMODX_INSTALL_${_v}}")
  endif()
endforeach()
file(RELATIVE_PATH _cmodx_rel "${_cmodx_BINDIR}" "${_cmodx_DATADIR}/cmodx/check/cmodx-check")
set(_cmodx_link "$ENV{DESTDIR}${_cmodx_BINDIR}/cmodx-check")
message(STATUS "Installing: ${_cmodx_link} -> ${_cmodx_rel}")
file(MAKE_DIRECTORY "$ENV{DESTDIR}${_cmodx_BINDIR}")
file(REMOVE "${_cmodx_link}")
file(CREATE_LINK "${_cmodx_rel}" "${_cmodx_link}" SYMBOLIC)
# CMake's own manifest entries name the installed path without DESTDIR.
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${_cmodx_BINDIR}/cmodx-check")

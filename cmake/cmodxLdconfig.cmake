# Install-time script (install(SCRIPT) from the top-level CMakeLists.txt):
# after a native install into the running system (no DESTDIR), make sure the
# dynamic linker will find libcmodx.so.0.  If the library directory is one
# ldconfig scans, root runs ldconfig (and the uninstall target runs it
# again); anyone else is told to.  Otherwise (a prefix such as ~/.local or
# /opt/cmodx) print how programs find the library: an rpath,
# LD_LIBRARY_PATH, or an ld.so.conf.d entry.  CMODX_INSTALL_LIBDIR is set
# by the install rule just before this script, CMODX_BINARY_DIR by the
# first install rule.
if(NOT "$ENV{DESTDIR}" STREQUAL "")
  return() # a staged install (packaging): the package runs ldconfig
endif()
# A relative prefix is resolved as CMake's file(INSTALL) resolves it.
get_filename_component(_cmodx_prefix "${CMAKE_INSTALL_PREFIX}" ABSOLUTE)
if(IS_ABSOLUTE "${CMODX_INSTALL_LIBDIR}")
  set(_cmodx_libdir "${CMODX_INSTALL_LIBDIR}")
else()
  set(_cmodx_libdir "${_cmodx_prefix}/${CMODX_INSTALL_LIBDIR}")
endif()
get_filename_component(_cmodx_libdir "${_cmodx_libdir}" REALPATH)
set(_cmodx_advice "programs find ${_cmodx_libdir}/libcmodx.so.0 at run time only when linked with -Wl,-rpath,${_cmodx_libdir}, run with LD_LIBRARY_PATH=${_cmodx_libdir}, or once root adds the directory to /etc/ld.so.conf.d/ and runs ldconfig (README.md, \"Install\")")
execute_process(COMMAND id -u OUTPUT_VARIABLE _cmodx_uid OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _cmodx_rc)
set(_cmodx_root FALSE)
if(_cmodx_rc EQUAL 0 AND _cmodx_uid STREQUAL "0")
  set(_cmodx_root TRUE)
endif()
find_program(_cmodx_ldconfig ldconfig PATHS /sbin /usr/sbin NO_CACHE)
if(NOT _cmodx_ldconfig)
  message(STATUS "cmodx: no ldconfig found: ${_cmodx_advice}")
  return()
endif()
# The directories ldconfig scans: -N (no cache rebuild) -X (no links) -v
# prints each as "DIR: (from ...)"; this needs no privilege.
execute_process(COMMAND ${_cmodx_ldconfig} -v -N -X OUTPUT_VARIABLE _cmodx_out ERROR_QUIET)
string(REPLACE "\n" ";" _cmodx_lines "${_cmodx_out}")
set(_cmodx_known FALSE)
foreach(_l IN LISTS _cmodx_lines)
  if(_l MATCHES "^(/[^:]*):")
    get_filename_component(_d "${CMAKE_MATCH_1}" REALPATH)
    if(_d STREQUAL _cmodx_libdir)
      set(_cmodx_known TRUE)
    endif()
  endif()
endforeach()
if(_cmodx_known AND _cmodx_root)
  message(STATUS "cmodx: running ldconfig (${_cmodx_libdir} is on the dynamic linker's search path)")
  execute_process(COMMAND ${_cmodx_ldconfig} RESULT_VARIABLE _cmodx_rc)
  if(NOT _cmodx_rc EQUAL 0)
    message(WARNING "cmodx: ldconfig failed (${_cmodx_rc})")
  endif()
  # The uninstall target runs ldconfig again when it finds this.
  file(WRITE "${CMODX_BINARY_DIR}/install_ran_ldconfig" "${_cmodx_libdir}\n")
elseif(_cmodx_known)
  message(STATUS "cmodx: ${_cmodx_libdir} is on the dynamic linker's search path, "
    "but only root rebuilds its cache: run ldconfig as root; until then programs find "
    "libcmodx.so.0 only when linked with -Wl,-rpath,${_cmodx_libdir} or run with "
    "LD_LIBRARY_PATH=${_cmodx_libdir}")
else()
  message(STATUS "cmodx: ${_cmodx_libdir} is not on the dynamic linker's search path: ${_cmodx_advice}")
endif()

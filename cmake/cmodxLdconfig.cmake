# Install-time script (install(SCRIPT) from the top-level CMakeLists.txt):
# after a native install by root into the running system (no DESTDIR), run
# ldconfig so that the dynamic linker finds libcmodx.so.0 at once, if the
# library directory is one ldconfig scans.  Otherwise say what to do.
# CMODX_INSTALL_LIBDIR is set by the install rule just before this script.
if(NOT "$ENV{DESTDIR}" STREQUAL "")
  return() # a staged install (packaging): the package runs ldconfig
endif()
execute_process(COMMAND id -u OUTPUT_VARIABLE _cmodx_uid OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _cmodx_rc)
if(NOT _cmodx_rc EQUAL 0 OR NOT _cmodx_uid STREQUAL "0")
  return() # only root can update the linker cache
endif()
if(IS_ABSOLUTE "${CMODX_INSTALL_LIBDIR}")
  set(_cmodx_libdir "${CMODX_INSTALL_LIBDIR}")
else()
  set(_cmodx_libdir "${CMAKE_INSTALL_PREFIX}/${CMODX_INSTALL_LIBDIR}")
endif()
get_filename_component(_cmodx_libdir "${_cmodx_libdir}" REALPATH)
find_program(_cmodx_ldconfig ldconfig PATHS /sbin /usr/sbin NO_CACHE)
if(NOT _cmodx_ldconfig)
  message(STATUS "cmodx: no ldconfig found; run it yourself so that ${_cmodx_libdir} is searched")
  return()
endif()
# The directories ldconfig scans: -N (no cache rebuild) -X (no links) -v
# prints each as "DIR: (from ...)".
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
if(_cmodx_known)
  message(STATUS "cmodx: running ldconfig (${_cmodx_libdir} is on the dynamic linker's search path)")
  execute_process(COMMAND ${_cmodx_ldconfig} RESULT_VARIABLE _cmodx_rc)
  if(NOT _cmodx_rc EQUAL 0)
    message(WARNING "cmodx: ldconfig failed (${_cmodx_rc})")
  endif()
else()
  message(STATUS "cmodx: ${_cmodx_libdir} is not on the dynamic linker's search path: "
    "link programs with -Wl,-rpath,${_cmodx_libdir}, or add the directory to "
    "/etc/ld.so.conf.d/ and run ldconfig (README.md, \"Install\")")
endif()

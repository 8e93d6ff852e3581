# man1.cmake - one section 1 man page from a tool's --help, with help2man.
#
#   cmake -DNAME=<tool> -DPROG=<path of the tool> -DWHAT=<one-line summary>
#         -DVERSION=<x.y.z> -DHELP2MAN=<help2man> -DOUT=<page.1>
#         -DWORK=<scratch directory> -P man1.cmake
#
# help2man runs "PROGRAM --help" through the shell, so a PROGRAM path with
# a space (a source or build directory "my projects/cmodx") would be split.
# This script runs the tool itself (no shell), then gives help2man a
# stand-in: WORK/NAME, a two-line script printing the captured text, run as
# ./NAME from WORK.  The stand-in also makes the text fit help2man's
# parser: the tools print "usage:", help2man's SYNOPSIS comes only from a
# "Usage:" line, and a usage line continued on lines that start with
# spaces and "[" is joined into one.  A page without a SYNOPSIS, or with a
# second NAME or SYNOPSIS inside another section (a --help written as a
# man page), stops the build.
cmake_minimum_required(VERSION 3.16)
foreach(v NAME PROG WHAT VERSION HELP2MAN OUT WORK)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "man1.cmake: -D${v}=... is required")
  endif()
endforeach()

execute_process(COMMAND "${PROG}" --help
  OUTPUT_VARIABLE help ERROR_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR help STREQUAL "")
  message(FATAL_ERROR "man1.cmake: '${PROG} --help' failed (${rc}): ${help}")
endif()
# Usage line: capitalised, continuation lines joined.
string(REGEX REPLACE "^usage:" "Usage:" help "${help}")
while(help MATCHES "^(Usage:[^\n]*)\n +(\\[[^\n]*)")
  string(LENGTH "${CMAKE_MATCH_0}" _n)
  string(SUBSTRING "${help}" ${_n} -1 _rest)
  set(help "${CMAKE_MATCH_1} ${CMAKE_MATCH_2}${_rest}")
endwhile()
if(NOT help MATCHES "^Usage: ${NAME} ")
  message(FATAL_ERROR "man1.cmake: ${NAME} --help does not start with a usage line")
endif()

file(MAKE_DIRECTORY "${WORK}")
file(WRITE "${WORK}/${NAME}.help" "${help}")
file(WRITE "${WORK}/${NAME}"
  "#!/bin/sh\nexec cat \"\$(dirname \"\$0\")/${NAME}.help\"\n")
execute_process(COMMAND chmod 755 "${WORK}/${NAME}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "man1.cmake: chmod failed")
endif()

execute_process(COMMAND "${HELP2MAN}" --no-info --no-discard-stderr
    "--version-string=${VERSION}" "--name=${WHAT}" "--output=${OUT}.tmp" "./${NAME}"
  WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "man1.cmake: help2man failed for ${NAME} (${rc})")
endif()
file(READ "${OUT}.tmp" page)
string(REGEX MATCHALL "\n\\.SH [^\n]*" sections "${page}")
foreach(s "\n.SH NAME" "\n.SH SYNOPSIS" "\n.SH DESCRIPTION")
  list(FIND sections "${s}" i)
  if(i LESS 0)
    message(FATAL_ERROR "man1.cmake: ${NAME}.1 has no ${s} section")
  endif()
endforeach()
string(REGEX MATCHALL "\n(\\.[A-Z]+ )?\\\\?(NAME|SYNOPSIS)\n" nested "${page}")
list(LENGTH nested n)
if(n GREATER 2)
  message(FATAL_ERROR "man1.cmake: ${NAME}.1 has a nested NAME or SYNOPSIS heading")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")

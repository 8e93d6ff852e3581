# Man pages (included from the top-level CMakeLists.txt when CMODX_BUILD_MAN).
#
# Section 3: one page per public function, generated at build time from the
# comments of include/cmodx/*.h by tools/man/man3.cmake (CMake only), so a
# page cannot drift from its header.  Installed with the library
# (CMODX_INSTALL).
#
# Section 1: one page per installed tool, made by help2man from the tool's
# --help (tools/man/man1.cmake).  Needs help2man and a native build (it runs the tools); skipped,
# with a message, otherwise.  Installed with the tools (CMODX_INSTALL_TOOLS).
set(CMODX_MAN_DIR ${CMAKE_CURRENT_BINARY_DIR}/man)
file(GLOB CMODX_PUBLIC_HEADERS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/include/cmodx/*.h)
add_custom_command(OUTPUT ${CMODX_MAN_DIR}/man3.stamp
  COMMAND ${CMAKE_COMMAND} -DINCLUDE_DIR=${CMAKE_CURRENT_SOURCE_DIR}/include
          -DOUT_DIR=${CMODX_MAN_DIR}/man3 -DVERSION=${PROJECT_VERSION}
          -P ${CMAKE_CURRENT_SOURCE_DIR}/tools/man/man3.cmake
  COMMAND ${CMAKE_COMMAND} -E touch ${CMODX_MAN_DIR}/man3.stamp
  DEPENDS ${CMODX_PUBLIC_HEADERS} ${CMAKE_CURRENT_SOURCE_DIR}/tools/man/man3.cmake
  COMMENT "Generating section 3 man pages from include/cmodx/*.h"
  VERBATIM)
add_custom_target(cmodx_man3 ALL DEPENDS ${CMODX_MAN_DIR}/man3.stamp)
if(CMODX_INSTALL)
  install(DIRECTORY ${CMODX_MAN_DIR}/man3 DESTINATION ${CMAKE_INSTALL_MANDIR}
    FILES_MATCHING PATTERN "*.3")
endif()

if(CMODX_BUILD_TOOLS AND CMODX_INSTALL_TOOLS)
  find_program(CMODX_HELP2MAN help2man)
  if(CMAKE_CROSSCOMPILING)
    message(STATUS "cmodx: no section 1 man pages in a cross build (help2man runs the tools)")
  elseif(NOT CMODX_HELP2MAN)
    message(STATUS "cmodx: help2man not found (Debian: help2man): no section 1 man pages")
  else()
    # tool name, program to run, one-line description
    set(_tools
      "cmodx-check|${CMAKE_CURRENT_SOURCE_DIR}/tools/check/cmodx-check|find missing cache maintenance in programs that write code while running it"
      "cmodx-demo|cmodx-demo|a writer publishes new code while caller threads run it"
      "cmodx-torture|cmodx-torture|stress slots, publication and reclamation, checking every result"
      "cmodx-bench|cmodx-bench|measure cmodx's costs next to their references"
      "cmodx-fuzz|cmodx-fuzz|model-based fuzzer of the cmodx API")
    set(_pages)
    foreach(entry IN LISTS _tools)
      string(REPLACE "|" ";" entry "${entry}")
      list(GET entry 0 name)
      list(GET entry 1 prog)
      list(GET entry 2 what)
      set(deps)
      if(NOT IS_ABSOLUTE "${prog}")
        if(NOT TARGET ${prog})
          continue()
        endif()
        set(deps ${prog})
        set(prog $<TARGET_FILE:${prog}>)
      else()
        set(deps ${prog})
      endif()
      # tools/man/man1.cmake runs the tool and help2man without a shell
      # seeing either path (they may hold spaces), and checks the page.
      add_custom_command(OUTPUT ${CMODX_MAN_DIR}/man1/${name}.1
        COMMAND ${CMAKE_COMMAND} -E make_directory ${CMODX_MAN_DIR}/man1
        COMMAND ${CMAKE_COMMAND} -DNAME=${name} -DPROG=${prog} -DWHAT=${what}
                -DVERSION=${PROJECT_VERSION} -DHELP2MAN=${CMODX_HELP2MAN}
                -DOUT=${CMODX_MAN_DIR}/man1/${name}.1 -DWORK=${CMODX_MAN_DIR}/help2man
                -P ${CMAKE_CURRENT_SOURCE_DIR}/tools/man/man1.cmake
        DEPENDS ${deps} ${CMAKE_CURRENT_SOURCE_DIR}/tools/man/man1.cmake
        COMMENT "Generating ${name}.1 with help2man"
        VERBATIM)
      list(APPEND _pages ${CMODX_MAN_DIR}/man1/${name}.1)
    endforeach()
    add_custom_target(cmodx_man1 ALL DEPENDS ${_pages})
    install(FILES ${_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  endif()
endif()

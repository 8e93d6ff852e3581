# Cross-compile for riscv64-linux-gnu with Debian's cross compiler; tests run under
# Debian's qemu-user, pointed at the cross sysroot with -L.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR riscv64)
set(CMODX_TRIPLE riscv64-linux-gnu)
if(NOT DEFINED CMAKE_C_COMPILER)
  set(CMAKE_C_COMPILER riscv64-linux-gnu-gcc)
endif()
# Search roots: the cross sysroot, and every prefix the user names in
# CMAKE_PREFIX_PATH, as a CMake variable (-DCMAKE_PREFIX_PATH=...) or in the
# environment (CMAKE_PREFIX_PATH=a:b, as CMake itself reads it): a cross
# install of cmodx, say /opt/cmodx/<arch>.  With the package mode ONLY below,
# find_package() looks only under these roots; without the prefixes here
# -DCMAKE_PREFIX_PATH=/opt/cmodx/<arch> would be searched as
# /usr/riscv64-linux-gnu/opt/cmodx/<arch> and not found.
set(CMODX_ENV_PREFIX_PATH "$ENV{CMAKE_PREFIX_PATH}")
string(REPLACE ":" ";" CMODX_ENV_PREFIX_PATH "${CMODX_ENV_PREFIX_PATH}")
set(CMAKE_FIND_ROOT_PATH /usr/riscv64-linux-gnu ${CMAKE_PREFIX_PATH} ${CMODX_ENV_PREFIX_PATH})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# CMODX_EMULATOR may name another emulator (cmodx-check, a newer qemu).
if(NOT DEFINED CMODX_EMULATOR)
  set(CMODX_EMULATOR qemu-riscv64)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMODX_EMULATOR} -L /usr/riscv64-linux-gnu)

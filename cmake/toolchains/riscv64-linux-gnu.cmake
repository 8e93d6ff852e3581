# Cross-compile for riscv64-linux-gnu with Debian's cross compiler; tests run under
# Debian's qemu-user, pointed at the cross sysroot with -L.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR riscv64)
set(CMODX_TRIPLE riscv64-linux-gnu)
if(NOT DEFINED CMAKE_C_COMPILER)
  set(CMAKE_C_COMPILER riscv64-linux-gnu-gcc)
endif()
set(CMAKE_FIND_ROOT_PATH /usr/riscv64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# CMODX_EMULATOR may name another emulator (cmodx-check, a newer qemu).
if(NOT DEFINED CMODX_EMULATOR)
  set(CMODX_EMULATOR qemu-riscv64)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMODX_EMULATOR} -L /usr/riscv64-linux-gnu)

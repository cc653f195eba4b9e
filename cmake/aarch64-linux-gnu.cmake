# Cross-compiling for linux-arm64 (glibc) with Debian's g++-aarch64-linux-gnu:
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake ...
# CMAKE_SYSTEM_PROCESSOR aarch64 leaves out the x86 ISA files (CMakeLists.txt),
# so only the portable scalar kernels are built. ctest runs the test
# executables under qemu-aarch64-static with the cross sysroot.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(ADN_CROSS_PREFIX aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${ADN_CROSS_PREFIX}-gcc)
set(CMAKE_CXX_COMPILER ${ADN_CROSS_PREFIX}-g++)
set(CMAKE_STRIP ${ADN_CROSS_PREFIX}-strip)
set(CMAKE_FIND_ROOT_PATH /usr/${ADN_CROSS_PREFIX})
# Programs (cmake, node) from the host; libraries and headers from the sysroot.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /usr/${ADN_CROSS_PREFIX})

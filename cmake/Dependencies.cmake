# Finds every library with pkg-config.  Backends are MR_WITH_<X> = AUTO
# (default: on when the library is found) | ON (fail when missing) | OFF.
# Each backend prints one line; mr_print_summary() lists them at the end.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

set_property(GLOBAL PROPERTY MR_SUMMARY "")

function(mr_summary line)
  set_property(GLOBAL APPEND PROPERTY MR_SUMMARY "${line}")
  message(STATUS "mailroom: ${line}")
endfunction()

# mr_backend(<VAR> <what> <pkg-module> <package hint>)
#   sets MR_HAVE_<VAR> and target PkgConfig::MR_<VAR>
function(mr_backend var what module hint)
  set(MR_WITH_${var} AUTO CACHE STRING "Build the ${what} (AUTO, ON, OFF)")
  set_property(CACHE MR_WITH_${var} PROPERTY STRINGS AUTO ON OFF)
  set(MR_HAVE_${var} 0 PARENT_SCOPE)
  if(MR_WITH_${var} STREQUAL "OFF")
    mr_summary("${what}: OFF (disabled with -DMR_WITH_${var}=OFF)")
    return()
  endif()
  pkg_check_modules(MR_${var} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(MR_${var}_FOUND)
    set(MR_HAVE_${var} 1 PARENT_SCOPE)
    mr_summary("${what}: ON (${module} ${MR_${var}_VERSION})")
  elseif(MR_WITH_${var} STREQUAL "ON")
    message(FATAL_ERROR "mailroom: ${what} was requested (-DMR_WITH_${var}=ON) but ${module} was not found by pkg-config; install ${hint} (scripts/install-deps does) or configure with -DMR_WITH_${var}=AUTO")
  else()
    mr_summary("${what}: OFF (${module} not found; install ${hint})")
  endif()
endfunction()

# mr_require(<VAR> <module> <package hint>): a library the core cannot do without.
function(mr_require var module hint)
  pkg_check_modules(MR_${var} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT MR_${var}_FOUND)
    message(FATAL_ERROR "mailroom: required library ${module} not found by pkg-config; install ${hint} (scripts/install-deps does)")
  endif()
  message(STATUS "mailroom: required ${module} ${MR_${var}_VERSION}")
endfunction()

mr_require(JANSSON jansson libjansson-dev)
mr_require(ZSTD libzstd libzstd-dev)
mr_require(LZ4 liblz4 liblz4-dev)

mr_backend(ROCKSDB "data backend rocksdb" rocksdb librocksdb-dev)
mr_backend(SQLITE "data backend sqlite" sqlite3 libsqlite3-dev)
mr_backend(POSTGRES "data backend postgresql" libpq libpq-dev)
mr_backend(MYSQL "data backend mysql" libmariadb libmariadb-dev)
mr_backend(REDIS "in-memory backend redis" hiredis libhiredis-dev)
mr_backend(CURL "HTTP backends (blob s3, search elasticsearch/meilisearch)" libcurl libcurl4-openssl-dev)

# BLAKE3: the official C implementation as Debian's librust-blake3-dev
# ships it.  Never copied into this repository; built from that path.
file(GLOB MR_BLAKE3_DIRS /usr/share/cargo/registry/blake3-*/c)
set(MR_BLAKE3_DIR "" CACHE PATH "Directory holding BLAKE3's C sources (blake3.c, blake3_dispatch.c, ...)")
if(NOT MR_BLAKE3_DIR)
  if(MR_BLAKE3_DIRS)
    list(SORT MR_BLAKE3_DIRS COMPARE NATURAL ORDER DESCENDING)
    list(GET MR_BLAKE3_DIRS 0 MR_BLAKE3_DIR)
  endif()
endif()
if(NOT MR_BLAKE3_DIR OR NOT EXISTS "${MR_BLAKE3_DIR}/blake3.c")
  message(FATAL_ERROR "mailroom: BLAKE3 C sources not found under /usr/share/cargo/registry/blake3-*/c; install librust-blake3-dev (scripts/install-deps does) or set -DMR_BLAKE3_DIR")
endif()
set(MR_BLAKE3_SOURCES ${MR_BLAKE3_DIR}/blake3.c ${MR_BLAKE3_DIR}/blake3_dispatch.c ${MR_BLAKE3_DIR}/blake3_portable.c)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  list(APPEND MR_BLAKE3_SOURCES
    ${MR_BLAKE3_DIR}/blake3_sse2_x86-64_unix.S ${MR_BLAKE3_DIR}/blake3_sse41_x86-64_unix.S
    ${MR_BLAKE3_DIR}/blake3_avx2_x86-64_unix.S ${MR_BLAKE3_DIR}/blake3_avx512_x86-64_unix.S)
  set(MR_BLAKE3_SIMD "SSE2, SSE4.1, AVX2, AVX-512 (assembly)")
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  list(APPEND MR_BLAKE3_SOURCES ${MR_BLAKE3_DIR}/blake3_neon.c)
  set(MR_BLAKE3_SIMD "NEON")
else()
  set(MR_BLAKE3_SIMD "portable only")
endif()
add_library(mr_blake3 STATIC ${MR_BLAKE3_SOURCES})
target_include_directories(mr_blake3 PUBLIC ${MR_BLAKE3_DIR})
if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|aarch64|arm64")
  target_compile_definitions(mr_blake3 PRIVATE BLAKE3_NO_SSE2 BLAKE3_NO_SSE41 BLAKE3_NO_AVX2 BLAKE3_NO_AVX512)
endif()
set_target_properties(mr_blake3 PROPERTIES POSITION_INDEPENDENT_CODE ON)
message(STATUS "mailroom: BLAKE3 from ${MR_BLAKE3_DIR} (${MR_BLAKE3_SIMD})")

function(mr_print_summary)
  get_property(summary GLOBAL PROPERTY MR_SUMMARY)
  message(STATUS "mailroom backends (enabled/disabled):")
  foreach(line IN LISTS summary)
    message(STATUS "  ${line}")
  endforeach()
endfunction()

# MIME parsing (src/mail): GMime 3.
mr_require(GMIME gmime-3.0 libgmime-3.0-dev)

# Core: errors, logging, buffers, TOML, configuration, cron, hashing.
file(GLOB MR_CORE_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.c)
list(APPEND MR_SOURCES ${MR_CORE_SOURCES})
list(APPEND MR_LIBS PkgConfig::MR_JANSSON PkgConfig::MR_ZSTD PkgConfig::MR_LZ4)

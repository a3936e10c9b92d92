# Data store: front, codec, registry, and each enabled backend.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/data.c
  ${CMAKE_CURRENT_LIST_DIR}/codec.c
  ${CMAKE_CURRENT_LIST_DIR}/pool.c
  ${CMAKE_CURRENT_LIST_DIR}/registry.c)
if(MR_HAVE_ROCKSDB)
  list(APPEND MR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/rocksdb.c)
  list(APPEND MR_LIBS PkgConfig::MR_ROCKSDB)
endif()
if(MR_HAVE_SQLITE)
  list(APPEND MR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/sqlite.c)
  list(APPEND MR_LIBS PkgConfig::MR_SQLITE)
endif()
set(MR_HAVE_POSTGRES_FILE 0)
if(MR_HAVE_POSTGRES AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/postgres.c)
  set(MR_HAVE_POSTGRES_FILE 1)
  list(APPEND MR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/postgres.c)
  # libpq is loaded on first open (src/core/dynlib.h), not linked: headers only.
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/postgres.c APPEND PROPERTY INCLUDE_DIRECTORIES ${MR_POSTGRES_INCLUDES})
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/postgres.c APPEND PROPERTY
    COMPILE_DEFINITIONS MR_SONAME_POSTGRES="${MR_SONAME_POSTGRES}")
endif()
set(MR_HAVE_MYSQL_FILE 0)
if(MR_HAVE_MYSQL AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/mysql.c)
  set(MR_HAVE_MYSQL_FILE 1)
  list(APPEND MR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/mysql.c)
  # libmariadb is loaded on first open (src/core/dynlib.h), not linked: headers only.
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/mysql.c APPEND PROPERTY INCLUDE_DIRECTORIES ${MR_MYSQL_INCLUDES})
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/mysql.c APPEND PROPERTY
    COMPILE_DEFINITIONS MR_SONAME_MYSQL="${MR_SONAME_MYSQL}")
endif()

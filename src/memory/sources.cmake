# In-memory store: front, registry, the local backend, and redis when hiredis is found
# (with TLS when OpenSSL is found too).
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/memory.c
  ${CMAKE_CURRENT_LIST_DIR}/registry.c
  ${CMAKE_CURRENT_LIST_DIR}/local.c
  ${CMAKE_CURRENT_LIST_DIR}/datastore.c)
if(MR_HAVE_REDIS AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/redis.c)
  list(APPEND MR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis.c ${CMAKE_CURRENT_LIST_DIR}/redis_conn.c)
  list(APPEND MR_LIBS PkgConfig::MR_REDIS)
  # TLS transport: OpenSSL when found, else a stub that refuses tls = true.
  if(MR_HAVE_REDIS_TLS)
    list(APPEND MR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_tls.c)
    list(APPEND MR_LIBS PkgConfig::MR_REDIS_TLS)
  else()
    list(APPEND MR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_tls_none.c)
  endif()
endif()
if(MR_HAVE_REDIS AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/redis.c)
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/registry.c PROPERTIES COMPILE_DEFINITIONS MR_MEMORY_REDIS_FILE=1)
else()
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/registry.c PROPERTIES COMPILE_DEFINITIONS MR_MEMORY_REDIS_FILE=0)
endif()

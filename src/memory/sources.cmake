# In-memory store: front, registry, the local backend, and redis when hiredis is found.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/memory.c
  ${CMAKE_CURRENT_LIST_DIR}/registry.c
  ${CMAKE_CURRENT_LIST_DIR}/local.c
  ${CMAKE_CURRENT_LIST_DIR}/datastore.c)
if(MR_HAVE_REDIS AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/redis.c)
  list(APPEND MR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis.c)
  list(APPEND MR_LIBS PkgConfig::MR_REDIS)
endif()
if(MR_HAVE_REDIS AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/redis.c)
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/registry.c PROPERTIES COMPILE_DEFINITIONS MR_MEMORY_REDIS_FILE=1)
else()
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/registry.c PROPERTIES COMPILE_DEFINITIONS MR_MEMORY_REDIS_FILE=0)
endif()

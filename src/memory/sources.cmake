# In-memory store: front, registry, local and data-store backends.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/memory.c
  ${CMAKE_CURRENT_LIST_DIR}/registry.c
  ${CMAKE_CURRENT_LIST_DIR}/local.c
  ${CMAKE_CURRENT_LIST_DIR}/datastore.c)

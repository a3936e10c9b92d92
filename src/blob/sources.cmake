# blob store sources: front, compression, registry and the backends.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/blob.c
  ${CMAKE_CURRENT_LIST_DIR}/compress.c
  ${CMAKE_CURRENT_LIST_DIR}/datastore.c
  ${CMAKE_CURRENT_LIST_DIR}/hash.c
  ${CMAKE_CURRENT_LIST_DIR}/fs.c
  ${CMAKE_CURRENT_LIST_DIR}/registry.c)

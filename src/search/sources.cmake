# search store sources: the query parser, the front, the registry, the
# built-in engine (analyzer + index) and the enabled external backends.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/query.c)

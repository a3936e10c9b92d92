# search store sources: the query parser, the front, the registry, the
# built-in engine (analyzer + index) and the enabled external backends.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/query.c
  ${CMAKE_CURRENT_LIST_DIR}/search.c
  ${CMAKE_CURRENT_LIST_DIR}/registry.c
  ${CMAKE_CURRENT_LIST_DIR}/builtin/index.c
  ${CMAKE_CURRENT_LIST_DIR}/builtin/exec.c
  ${CMAKE_CURRENT_LIST_DIR}/builtin/analyzer.c)
list(APPEND MR_LIBS PkgConfig::MR_UTF8PROC PkgConfig::MR_EXTTEXTCAT mr_stemmer mr_roaring)
set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/builtin/analyzer.c APPEND PROPERTY
  COMPILE_DEFINITIONS MR_TEXTCAT_DIR="${MR_TEXTCAT_DIR}")
if(MR_HAVE_CURL)
  list(APPEND MR_SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/http.c
    ${CMAKE_CURRENT_LIST_DIR}/elasticsearch.c
    ${CMAKE_CURRENT_LIST_DIR}/meilisearch.c)
  # libcurl: loaded on first use through src/lib/curl.c (listed in src/blob/sources.cmake)
endif()

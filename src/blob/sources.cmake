# blob store sources: front, compression, registry and the backends.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/blob.c
  ${CMAKE_CURRENT_LIST_DIR}/compress.c
  ${CMAKE_CURRENT_LIST_DIR}/datastore.c
  ${CMAKE_CURRENT_LIST_DIR}/hash.c
  ${CMAKE_CURRENT_LIST_DIR}/fs.c
  ${CMAKE_CURRENT_LIST_DIR}/registry.c)
if(MR_HAVE_CURL)
  # libcurl is loaded on first open (src/lib/curl.h), not linked: headers only.
  # src/lib/curl.c serves search/http.c too (both need MR_HAVE_CURL).
  set(MR_CURL_USERS ${CMAKE_CURRENT_LIST_DIR}/s3.c ${CMAKE_CURRENT_LIST_DIR}/../search/http.c
    ${CMAKE_CURRENT_LIST_DIR}/../search/elasticsearch.c ${CMAKE_CURRENT_LIST_DIR}/../search/meilisearch.c
    ${CMAKE_CURRENT_LIST_DIR}/../lib/curl.c)
  list(APPEND MR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/s3.c ${CMAKE_CURRENT_LIST_DIR}/../lib/curl.c)
  set_property(SOURCE ${MR_CURL_USERS} APPEND PROPERTY INCLUDE_DIRECTORIES ${MR_CURL_INCLUDES})
  set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/../lib/curl.c APPEND PROPERTY
    COMPILE_DEFINITIONS MR_SONAME_CURL="${MR_SONAME_CURL}")
endif()

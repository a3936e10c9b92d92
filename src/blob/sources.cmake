# Blob store: blob ids (BLAKE3) so far; backends and the front come next.
list(APPEND MR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/hash.c)

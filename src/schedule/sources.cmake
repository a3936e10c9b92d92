# scheduler: purge tasks, the once-per-slot lock protocol, the daemon loop.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/clock.c
  ${CMAKE_CURRENT_LIST_DIR}/purge.c
  ${CMAKE_CURRENT_LIST_DIR}/daemon.c)

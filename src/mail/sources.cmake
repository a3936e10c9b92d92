# mail: the parsed message model (GMime), HTML reduction, and the readers of
# Maildir / mbox / .eml archives.  Import and export join them later.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/message.c
  ${CMAKE_CURRENT_LIST_DIR}/html.c
  ${CMAKE_CURRENT_LIST_DIR}/reader.c)
list(APPEND MR_LIBS PkgConfig::MR_GMIME)

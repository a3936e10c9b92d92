# mail: the parsed message model (GMime), HTML reduction, and the readers of
# Maildir / mbox / .eml archives.  The model in the data store (model.c), import and export.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/message.c
  ${CMAKE_CURRENT_LIST_DIR}/html.c
  ${CMAKE_CURRENT_LIST_DIR}/reader.c
  ${CMAKE_CURRENT_LIST_DIR}/model.c
  ${CMAKE_CURRENT_LIST_DIR}/import.c
  ${CMAKE_CURRENT_LIST_DIR}/export.c)
list(APPEND MR_LIBS PkgConfig::MR_GMIME)

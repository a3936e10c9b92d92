# mail: the parsed message model (GMime), HTML reduction, and the readers of
# Maildir / mbox / .eml archives.  The model in the data store (model.c), import and export.
list(APPEND MR_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/message.c
  ${CMAKE_CURRENT_LIST_DIR}/html.c
  ${CMAKE_CURRENT_LIST_DIR}/reader.c
  ${CMAKE_CURRENT_LIST_DIR}/model.c
  ${CMAKE_CURRENT_LIST_DIR}/import.c
  ${CMAKE_CURRENT_LIST_DIR}/export.c)
# GMime is loaded on the first parse (src/core/dynlib.h), not linked: headers only.
set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/message.c APPEND PROPERTY INCLUDE_DIRECTORIES ${MR_GMIME_INCLUDES})
set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/message.c APPEND PROPERTY
  COMPILE_DEFINITIONS MR_SONAME_GMIME="${MR_SONAME_GMIME}")

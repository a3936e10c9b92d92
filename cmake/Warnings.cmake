# Strict warnings for our own targets; -Werror when MR_WERROR is ON (CI).
function(mr_enable_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes
    -Wmissing-prototypes -Wold-style-definition -Wpointer-arith -Wvla
    -Wno-unused-parameter)
  if(MR_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

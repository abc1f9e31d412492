# INTERFACE target every product and test target links privately (ccache's standard_warnings).
add_library(hsmctl_warnings INTERFACE)
target_compile_options(hsmctl_warnings INTERFACE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wformat=2)
if(HSMCTL_WERROR)
  target_compile_options(hsmctl_warnings INTERFACE -Werror)
endif()

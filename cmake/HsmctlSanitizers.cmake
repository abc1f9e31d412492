# -DHSMCTL_SANITIZE="address;undefined" instruments every target of the build.
if(HSMCTL_SANITIZE)
  list(JOIN HSMCTL_SANITIZE "," _hsmctl_san)
  add_compile_options(-fsanitize=${_hsmctl_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_hsmctl_san})
endif()

# What an operator installs beyond the two binaries and the schemas (src/CMakeLists.txt), and the
# Debian package built from it (`cpack -G DEB` in a build directory; docs/packaging.md):
#   /usr/share/hsmctl/policies                  the policy pack (policies/)
#   /usr/share/man/man1/hsmctl*.1.gz             man pages, generated from --help (help2man)
#   /usr/share/bash-completion/completions/hsmctl, /usr/share/zsh/vendor-completions/_hsmctl
#   /usr/share/doc/hsmctl/{copyright,changelog.Debian.gz}
# The man pages are built (target `man-pages`, part of `all`) in ordinary builds only: not in
# sanitizer or fuzzing builds, whose binaries are never packaged.

install(DIRECTORY ${PROJECT_SOURCE_DIR}/policies/ DESTINATION share/hsmctl/policies)
install(FILES ${PROJECT_SOURCE_DIR}/completions/hsmctl.bash
  DESTINATION share/bash-completion/completions RENAME hsmctl)
install(FILES ${PROJECT_SOURCE_DIR}/completions/_hsmctl DESTINATION share/zsh/vendor-completions)

# Debian's per-package documentation: the machine-readable copyright file and the changelog,
# compressed reproducibly (gzip -9n) as Debian policy 12.7 asks.
find_program(HSMCTL_GZIP gzip REQUIRED)
set(HSMCTL_DEB_RELEASE 1)
set(HSMCTL_DEB_MAINTAINER "hsmctl maintainers <hsmctl-maintainers@example.org>" CACHE STRING
  "Maintainer field of the Debian package (and of its changelog entry)")
set(HSMCTL_PACKAGING_DIR ${PROJECT_BINARY_DIR}/packaging)
configure_file(${PROJECT_SOURCE_DIR}/packaging/changelog.Debian.in
  ${HSMCTL_PACKAGING_DIR}/changelog.Debian @ONLY)
add_custom_command(OUTPUT ${HSMCTL_PACKAGING_DIR}/changelog.Debian.gz
  COMMAND ${HSMCTL_GZIP} -9nfk ${HSMCTL_PACKAGING_DIR}/changelog.Debian
  DEPENDS ${HSMCTL_PACKAGING_DIR}/changelog.Debian
  COMMENT "Compressing the Debian changelog" VERBATIM)
add_custom_target(deb-changelog ALL DEPENDS ${HSMCTL_PACKAGING_DIR}/changelog.Debian.gz)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/copyright ${HSMCTL_PACKAGING_DIR}/changelog.Debian.gz
  DESTINATION share/doc/hsmctl)

# Man pages: help2man over the built binaries (packaging/man-pages.cmake), so --help is their
# one source. Without help2man there are no pages (a warning here; tests/package fails).
if(NOT HSMCTL_SANITIZE AND NOT HSMCTL_FUZZ AND NOT CMAKE_CROSSCOMPILING)
  find_program(HSMCTL_HELP2MAN help2man)
  if(HSMCTL_HELP2MAN)
    set(HSMCTL_MAN_DIR ${PROJECT_BINARY_DIR}/man)
    set(vcard_args)
    set(vcard_target)
    if(TARGET hsmctl-vcard)
      set(vcard_args -DVCARD=$<TARGET_FILE:hsmctl-vcard>)
      set(vcard_target hsmctl-vcard)
    endif()
    add_custom_command(OUTPUT ${HSMCTL_MAN_DIR}/hsmctl.1.gz
      COMMAND ${CMAKE_COMMAND} -DHSMCTL=$<TARGET_FILE:hsmctl> ${vcard_args}
        -DHELP2MAN=${HSMCTL_HELP2MAN} -DGZIP=${HSMCTL_GZIP} -DVERSION=${PROJECT_VERSION}
        -DOUT=${HSMCTL_MAN_DIR} -P ${PROJECT_SOURCE_DIR}/packaging/man-pages.cmake
      DEPENDS hsmctl ${vcard_target}
        ${PROJECT_SOURCE_DIR}/packaging/man-pages.cmake
      COMMENT "Generating the man pages from --help (help2man)" VERBATIM)
    add_custom_target(man-pages ALL DEPENDS ${HSMCTL_MAN_DIR}/hsmctl.1.gz)
    install(DIRECTORY ${HSMCTL_MAN_DIR}/ DESTINATION share/man/man1
      FILES_MATCHING PATTERN "*.1.gz")
  else()
    message(WARNING "help2man not found: no man pages (scripts/install-deps installs it)")
  endif()
endif()

# The Debian package. Shared-library dependencies come from dpkg-shlibdeps (dpkg-dev);
# binaries are stripped (the debug info of a RelWithDebInfo build stays in the build tree).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hsmctl)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "hsmctl contributors")
set(CPACK_PACKAGE_CONTACT "${HSMCTL_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "configuration as code for hardware security modules")
# The extended description, wrapped below 80 columns as Debian policy 5.6.13 asks (CPack does
# not wrap it).
string(JOIN "\n" CPACK_PACKAGE_DESCRIPTION
  "hsmctl describes the desired state of hardware security modules in YAML"
  "manifests kept in git: PINs, retry counters, key domains and options of Pico"
  "HSMs (SmartCard-HSM compatible, over PC/SC) and the settings and permanent"
  "secrets of Securosys Primus partitions."
  "."
  "It observes the live devices, diffs them against the manifests, prints a plan"
  "that flags every change needing a re-initialization (which wipes all keys),"
  "applies the rest idempotently and keeps every PIN it sets in an encrypted"
  "credential store."
  "."
  "hsmctl-vcard serves a simulated Pico HSM to pcscd's vpcd driver, for tests"
  "and demonstrations without hardware.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${HSMCTL_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS pcscd)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "vsmartcard-vpcd, opensc")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

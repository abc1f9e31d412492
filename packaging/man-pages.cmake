# Generates the man pages from the binaries' own --help output (the one source of truth), run
# at build time by the `man-pages` target (cmake/HsmctlPackaging.cmake):
#   cmake -DHSMCTL=... -DVCARD=... -DHELP2MAN=... -DGZIP=... -DVERSION=... -DOUT=... -P man-pages.cmake
# Pages: hsmctl.1, one hsmctl-<command>.1 per command listed under "Commands:" in
# `hsmctl --help` (so a new command gets its page without an edit here), hsmctl-vcard.1; each
# compressed with gzip -9n (no name, no time stamp: what Debian policy and lintian want).
# SOURCE_DATE_EPOCH, when set, fixes the date help2man writes into the pages.
foreach(var HSMCTL HELP2MAN GZIP VERSION OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "man-pages.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})

execute_process(COMMAND ${HSMCTL} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "man-pages.cmake: `${HSMCTL} --help` failed (${rc})")
endif()
# The command table: the lines after "Commands:" up to the first empty line.
string(REGEX MATCH "\nCommands:\n([^\n]+\n)+" table "${help}")
string(REPLACE "\n" ";" lines "${table}")
set(commands)
foreach(line IN LISTS lines)
  if(line MATCHES "^  ([a-z][a-z0-9-]*) +(.+)$")
    list(APPEND commands ${CMAKE_MATCH_1})
    set(summary_${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
  endif()
endforeach()
if(NOT commands)
  message(FATAL_ERROR "man-pages.cmake: no command table in `hsmctl --help`")
endif()

set(see_also "hsmctl(1)")
foreach(cmd IN LISTS commands)
  string(APPEND see_also ", hsmctl-${cmd}(1)")
endforeach()
if(VCARD)
  string(APPEND see_also ", hsmctl-vcard(1)")
endif()
file(WRITE ${OUT}/see-also.h2m "[SEE ALSO]\n${see_also}\n\nREADME.md and docs/ in the hsmctl source tree: the manifest format, exit codes, the\ncredential store, PC/SC set-up.\n")

function(page binary name summary help_option version_option)
  execute_process(
    COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=1 "--name=${summary}"
      "--help-option=${help_option}" ${version_option}
      --include=${OUT}/see-also.h2m --output=${OUT}/${name}.1 ${binary}
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "man-pages.cmake: help2man failed for ${name}")
  endif()
  execute_process(COMMAND ${GZIP} -9nf ${OUT}/${name}.1 RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "man-pages.cmake: gzip failed for ${name}.1")
  endif()
endfunction()

page(${HSMCTL} hsmctl "configuration as code for hardware security modules" --help
  --version-option=--version)
foreach(cmd IN LISTS commands)
  page(${HSMCTL} hsmctl-${cmd} "${summary_${cmd}}" "${cmd} --help"
    "--version-string=hsmctl-${cmd} ${VERSION}")
endforeach()
if(VCARD)
  page(${VCARD} hsmctl-vcard "simulated Pico HSM for pcscd's vpcd driver" --help
    "--version-string=hsmctl-vcard ${VERSION}")
endif()
file(REMOVE ${OUT}/see-also.h2m)

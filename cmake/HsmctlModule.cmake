# Modules of the core (ARCHITECTURE.md "Modules"), declared once and enforced by the build.
#
#   hsmctl_module(<name> DIR <dir> [SOURCES <file>...] [PUBLIC <dep>...] [PRIVATE <dep>...])
#
# makes the static library hsmctl_<name> from src/hsmctl/<dir>/*.cpp and <dir>/detail/*.cpp (not
# recursive: a subfolder is a module of its own). A <dep> is another module's <name> (util,
# device_schsm, fam_primus, ...; declared in any order) or a third-party target (OpenSSL::Crypto,
# ...). PUBLIC: the module's headers include it (its users see it too); PRIVATE: only its .cpp
# files do. A module without a .cpp is an INTERFACE library (every dep is then PUBLIC).
#
#   hsmctl_program(<target> DIR <dir> [SOURCES <file>...] PRIVATE <dep>...)
#
# makes the executable <target> from src/<dir>/**.cpp; its headers (src/<dir>/**.hpp, included
# as "<dir>/...") are staged like a module's, in the INTERFACE target hsmctl_<dir>_headers.
#
# hsmctl_modules_finish() links what the calls declared and makes hsmctl_core, the white-box view
# the tests, bench and fuzz targets link: every module's library (link only), src/ as include
# root (a test reaches any header, detail/ ones too) and the libraries hsmctl_core exported
# before the modules (tl-expected, fmt, nlohmann-json), so their compile lines did not change.
# Nothing in src/ links it.
#
# How the declarations are enforced:
#  1. Header staging. src/ is nobody's include root. src/hsmctl/<dir>/*.hpp are symlinked into
#     <build>/modinc/<name>/hsmctl/<dir>/ (recreated at every configure; the source globs are
#     CONFIGURE_DEPENDS, so a new header re-runs CMake), the only include directory the module
#     exports; <dir>/detail/*.hpp go to <build>/modinc/<name>.detail/, seen by the module itself
#     only (and by the white-box tests, whose include root stays src/: hsmctl_core). A module sees its own headers, those of the
#     modules it declares and their PUBLIC ones: any other hsmctl header is "No such file or
#     directory". PC/SC's <winscard.h> needs pkg-config's -I/usr/include/PCSC, which only the
#     module declaring PkgConfig::PCSC gets. Other libraries install into /usr/include, where
#     every compiler looks: for them see 2. and 3.
#  2. Link check (HSMCTL_LINK_CHECK; default ON with HSMCTL_WERROR, never with sanitizers or
#     fuzzing): each module's objects (position-independent) are linked once more into a shared
#     library hsmctl_<name>_linkcheck with -Wl,--no-undefined against the link checks of its
#     declared modules and its declared libraries only, so a symbol of an undeclared module or
#     library (yaml-cpp, OpenSSL, libconfig++, fmt, PC/SC) fails the build. Links only, no
#     second compilation.
#  3. tests/lint/check_layering.py (ctest lint.layering) reads these calls and checks every
#     #include of src/ against them, header-only libraries (nlohmann-json, valijson) included.
include_guard(GLOBAL)

set(HSMCTL_MODINC ${PROJECT_BINARY_DIR}/modinc)
set(HSMCTL_SRC ${PROJECT_SOURCE_DIR}/src)

# Symlinks <src_dir>/<glob> (relative paths kept) into <stage>/<rel>/, after emptying <stage>;
# sets <found> to the headers staged.
function(_hsmctl_stage found stage src_dir rel)
  cmake_parse_arguments(S "RECURSE" "" "GLOBS" ${ARGN})
  set(patterns)
  foreach(g IN LISTS S_GLOBS)
    list(APPEND patterns ${src_dir}/${g})
  endforeach()
  if(S_RECURSE)
    file(GLOB_RECURSE hdrs CONFIGURE_DEPENDS RELATIVE ${src_dir} ${patterns})
  else()
    file(GLOB hdrs CONFIGURE_DEPENDS RELATIVE ${src_dir} ${patterns})
  endif()
  file(REMOVE_RECURSE ${stage})
  file(MAKE_DIRECTORY ${stage})
  foreach(h IN LISTS hdrs)
    get_filename_component(d ${stage}/${rel}/${h} DIRECTORY)
    file(MAKE_DIRECTORY ${d})
    file(CREATE_LINK ${src_dir}/${h} ${stage}/${rel}/${h} SYMBOLIC)
  endforeach()
  set(${found} ${hdrs} PARENT_SCOPE)
endfunction()

function(hsmctl_module name)
  cmake_parse_arguments(M "" "DIR" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  if(NOT M_DIR)
    message(FATAL_ERROR "hsmctl_module(${name}): DIR missing")
  endif()
  set(dir ${HSMCTL_SRC}/hsmctl/${M_DIR})
  set(t hsmctl_${name})
  file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*.cpp ${dir}/detail/*.cpp)
  list(APPEND srcs ${M_SOURCES})
  _hsmctl_stage(public ${HSMCTL_MODINC}/${name} ${dir} hsmctl/${M_DIR} GLOBS *.hpp)
  _hsmctl_stage(detail ${HSMCTL_MODINC}/${name}.detail ${dir} hsmctl/${M_DIR} GLOBS detail/*.hpp)
  if(srcs)
    add_library(${t} STATIC ${srcs})
    target_include_directories(${t} PUBLIC ${HSMCTL_MODINC}/${name})
    if(detail)
      target_include_directories(${t} PRIVATE ${HSMCTL_MODINC}/${name}.detail)
    endif()
    target_link_libraries(${t} PRIVATE hsmctl_warnings)
    if(HSMCTL_LINK_CHECK)
      set_target_properties(${t} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    endif()
  else()
    add_library(${t} INTERFACE)
    target_include_directories(${t} INTERFACE ${HSMCTL_MODINC}/${name})
  endif()
  set_property(GLOBAL APPEND PROPERTY HSMCTL_MODULES ${name})
  set_property(GLOBAL PROPERTY HSMCTL_MODULE_${name}_PUBLIC "${M_PUBLIC}")
  set_property(GLOBAL PROPERTY HSMCTL_MODULE_${name}_PRIVATE "${M_PRIVATE}")
endfunction()

# Module names -> hsmctl_<name> (or its link check with SUFFIX _linkcheck); others unchanged.
function(_hsmctl_resolve out)
  cmake_parse_arguments(R "" "SUFFIX" "DEPS" ${ARGN})
  get_property(mods GLOBAL PROPERTY HSMCTL_MODULES)
  set(result)
  foreach(d IN LISTS R_DEPS)
    if(d IN_LIST mods)
      list(APPEND result hsmctl_${d}${R_SUFFIX})
    else()
      list(APPEND result ${d})
    endif()
  endforeach()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

function(hsmctl_modules_finish)
  get_property(mods GLOBAL PROPERTY HSMCTL_MODULES)
  add_library(hsmctl_core INTERFACE)
  foreach(m IN LISTS mods)
    set(t hsmctl_${m})
    get_property(pub GLOBAL PROPERTY HSMCTL_MODULE_${m}_PUBLIC)
    get_property(priv GLOBAL PROPERTY HSMCTL_MODULE_${m}_PRIVATE)
    _hsmctl_resolve(pub_t DEPS ${pub})
    _hsmctl_resolve(priv_t DEPS ${priv})
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "INTERFACE_LIBRARY")
      target_link_libraries(${t} INTERFACE ${pub_t} ${priv_t})
    else()
      target_link_libraries(${t} PUBLIC ${pub_t} PRIVATE ${priv_t})
    endif()
    if(HSMCTL_LINK_CHECK)
      _hsmctl_resolve(pub_l SUFFIX _linkcheck DEPS ${pub})
      _hsmctl_resolve(priv_l SUFFIX _linkcheck DEPS ${priv})
      if(type STREQUAL "INTERFACE_LIBRARY")
        add_library(${t}_linkcheck INTERFACE)
        target_link_libraries(${t}_linkcheck INTERFACE ${pub_l} ${priv_l})
      else()
        add_library(${t}_linkcheck SHARED $<TARGET_OBJECTS:${t}>)
        target_link_options(${t}_linkcheck PRIVATE -Wl,--no-undefined)
        target_link_libraries(${t}_linkcheck PUBLIC ${pub_l} PRIVATE ${priv_l})
        set_target_properties(${t}_linkcheck PROPERTIES
          LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/linkcheck)
      endif()
    endif()
    target_link_libraries(hsmctl_core INTERFACE $<LINK_ONLY:${t}>)
  endforeach()
  target_include_directories(hsmctl_core INTERFACE ${HSMCTL_SRC})
  target_link_libraries(hsmctl_core INTERFACE
    tl::expected fmt::fmt nlohmann_json::nlohmann_json)
endfunction()

function(hsmctl_program target)
  cmake_parse_arguments(P "" "DIR" "SOURCES;PRIVATE" ${ARGN})
  set(dir ${HSMCTL_SRC}/${P_DIR})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${dir}/*.cpp)
  string(MAKE_C_IDENTIFIER ${P_DIR} id)
  _hsmctl_stage(staged ${HSMCTL_MODINC}/${id} ${dir} ${P_DIR} RECURSE GLOBS *.hpp)
  add_library(hsmctl_${id}_headers INTERFACE)
  target_include_directories(hsmctl_${id}_headers INTERFACE ${HSMCTL_MODINC}/${id})
  add_executable(${target} ${srcs} ${P_SOURCES})
  _hsmctl_resolve(deps DEPS ${P_PRIVATE})
  target_link_libraries(${target} PRIVATE hsmctl_${id}_headers ${deps} hsmctl_warnings)
endfunction()

# Compile one *.bpf.c into a BPF object and a libbpf skeleton header in the
# build tree. Nothing generated is committed; the DEPENDS list makes a change
# to any shared header rebuild the object and everything including the skeleton.
find_program(XLANE_CLANG NAMES clang clang-16 clang-14 REQUIRED)
find_program(XLANE_BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

set(XLANE_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf-gen)
file(MAKE_DIRECTORY ${XLANE_BPF_GEN_DIR})

# Multiarch include dir for <asm/types.h> under -target bpf.
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
                OUTPUT_VARIABLE XLANE_MULTIARCH OUTPUT_STRIP_TRAILING_WHITESPACE)

# xlane_bpf_skeleton(NAME SOURCE DEPENDS hdr...) -> target xlane_bpf_<NAME>
# providing <NAME>.skel.h and variable XLANE_BPF_OBJECT_<NAME>.
function(xlane_bpf_skeleton name source)
  cmake_parse_arguments(ARG "" "" "DEPENDS" ${ARGN})
  set(obj ${XLANE_BPF_GEN_DIR}/${name}.bpf.o)
  set(skel ${XLANE_BPF_GEN_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${XLANE_CLANG} -g -O2 -target bpf -Wall -Werror
            -D__TARGET_ARCH_x86
            -I${CMAKE_SOURCE_DIR}/bpf -I${CMAKE_SOURCE_DIR}/bpf/abi
            -I/usr/include/${XLANE_MULTIARCH}
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${source} -o ${obj}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${source} ${ARG_DEPENDS}
    COMMENT "BPF ${source}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${XLANE_BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(xlane_bpf_${name} DEPENDS ${skel})
  set(XLANE_BPF_OBJECT_${name} ${obj} PARENT_SCOPE)
endfunction()

# SPDX-License-Identifier: MIT
# Generate the header PHP's FFI::cdef() takes: include/maillimit.h run through the C
# preprocessor (`cc -E -P`), with MAILLIMIT_API empty, no predefined macros and the two
# standard headers it includes replaced by empty stubs (PHP FFI knows int64_t, size_t...).
#
#   cmake -DCC=cc -DINCLUDE_DIR=include -DOUT=maillimit_ffi.h -P gen_ffi_header.cmake
#
# Core headers in include/maillimit/ are followed like any #include; OUT is rewritten only
# when its text changes.
foreach(_v CC INCLUDE_DIR OUT)
  if(NOT DEFINED ${_v})
    message(FATAL_ERROR "gen_ffi_header.cmake: -D${_v}=... is required")
  endif()
endforeach()

get_filename_component(_dir "${OUT}" DIRECTORY)
set(_stubs "${_dir}/ffi-stub-include")
file(MAKE_DIRECTORY "${_stubs}")
foreach(_h stddef.h stdint.h)
  file(WRITE "${_stubs}/${_h}" "/* empty: FFI knows the fixed-width types */\n")
endforeach()

execute_process(
  COMMAND "${CC}" -E -P -undef -nostdinc -DMAILLIMIT_API= -I "${_stubs}" -I "${INCLUDE_DIR}"
          -x c "${INCLUDE_DIR}/maillimit.h"
  OUTPUT_VARIABLE _text
  ERROR_VARIABLE _err
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "gen_ffi_header.cmake: ${CC} -E failed (${_rc}):\n${_err}")
endif()
# Blank lines only; cpp -P leaves no line markers.
string(REGEX REPLACE "\n[ \t]*\n+" "\n" _text "${_text}")
set(_text "/* Generated from include/maillimit.h by gen_ffi_header.cmake: do not edit. */\n${_text}")

if(EXISTS "${OUT}")
  file(READ "${OUT}" _old)
  if(_old STREQUAL _text)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${_text}")

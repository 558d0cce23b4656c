# SPDX-License-Identifier: MIT
# Run an example and compare its output with the expected text (a ctest smoke test).
#   cmake -DCOMMAND="prog;args" -DEXPECTED=expected.txt -P check_output.cmake
# Environment (MAILLIMIT_LIBRARY, PYTHONPATH...) comes from the test's ENVIRONMENT.
execute_process(COMMAND ${COMMAND} OUTPUT_VARIABLE _out ERROR_VARIABLE _err RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "example failed (${_rc}):\n${_err}${_out}")
endif()
file(READ "${EXPECTED}" _want)
if(NOT _out STREQUAL _want)
  message(FATAL_ERROR "output differs from ${EXPECTED}:\n--- got\n${_out}--- want\n${_want}")
endif()
message(STATUS "output matches ${EXPECTED}")

# Runs one compile-fail test (see tests/CMakeLists.txt):
#   cmake -DBUILD_DIR=<dir> -DTARGET=<target> -DSOURCE=<file.cpp> [-DCONFIG=<cfg>] -P compile_fail.cmake
# Passes only if building TARGET fails AND the build output matches the regex
# given on SOURCE's first line as `// expect: <regex>` (CMake regex syntax).
foreach(var BUILD_DIR TARGET SOURCE)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "compile_fail.cmake: -D${var}=... is required")
    endif()
endforeach()

file(STRINGS "${SOURCE}" first_line LIMIT_COUNT 1)
if(NOT first_line MATCHES "^[ \t]*//[ \t]*expect:[ \t]*(.*[^ \t])[ \t]*$")
    message(FATAL_ERROR
        "${SOURCE}: the first line must be `// expect: <regex>`, got: ${first_line}")
endif()
set(expect "${CMAKE_MATCH_1}")

set(config_args)
if(DEFINED CONFIG AND NOT CONFIG STREQUAL "")
    set(config_args --config "${CONFIG}")
endif()

execute_process(
    COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" ${config_args}
    RESULT_VARIABLE result
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output)

if(result EQUAL 0)
    message(FATAL_ERROR
        "${SOURCE} COMPILED, but it is a compile-fail test (expected an error matching "
        "\"${expect}\").\nBuild output:\n${output}")
endif()
if(NOT output MATCHES "${expect}")
    message(FATAL_ERROR
        "${SOURCE} failed to build as expected, but the output does not match "
        "\"${expect}\".\nBuild output:\n${output}")
endif()
message(STATUS "${SOURCE}: failed to compile as expected (matched \"${expect}\")")

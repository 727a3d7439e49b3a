// The one exception type of rflow and the check macro that throws it with file:line and [function].
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include "rflow/export.hpp"

namespace rflow {

/// Every failure inside the library is reported as an rflow::Error; the library never aborts.
class RFLOW_API Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
[[noreturn]] RFLOW_API void throw_error(const char* file, int line, const char* func,
                                        const std::string& msg);
}  // namespace detail

}  // namespace rflow

/// RFLOW_CHECK(cond, "message " << value): throws rflow::Error("file:line [func] message value").
#define RFLOW_CHECK(cond, msg)                                                    \
    do {                                                                          \
        if (!(cond)) {                                                            \
            std::ostringstream rflow_check_os_;                                   \
            rflow_check_os_ << msg;                                               \
            ::rflow::detail::throw_error(__FILE__, __LINE__, __func__,            \
                                         rflow_check_os_.str());                  \
        }                                                                         \
    } while (0)

/// RFLOW_FAIL("message " << value): throws unconditionally.
#define RFLOW_FAIL(msg) RFLOW_CHECK(false, msg)

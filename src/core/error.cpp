// Formats and throws rflow::Error for the RFLOW_CHECK macro.
#include "rflow/error.hpp"

#include <cstring>

namespace rflow::detail {

void throw_error(const char* file, int line, const char* func, const std::string& msg) {
    const char* base = std::strrchr(file, '/');
    std::ostringstream os;
    os << (base ? base + 1 : file) << ":" << line << " [" << func << "] " << msg;
    throw Error(os.str());
}

}  // namespace rflow::detail

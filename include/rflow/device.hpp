// Devices a tensor can live on, and the run-time query for a usable GPU.
#pragma once

#include <string>

#include "rflow/export.hpp"

namespace rflow {

/// Where a tensor's storage lives. The same public headers describe CPU-only and CUDA builds.
enum class Device { cpu, cuda };

/// "cpu" or "cuda".
RFLOW_API const char* device_name(Device d);

/// True when this build has the CUDA backend and a GPU answers; never throws.
RFLOW_API bool cuda_available();

/// Threads used by GEMM-bound CPU work (results do not depend on it). 0 = library default.
RFLOW_API void set_num_threads(int n);
RFLOW_API int num_threads();

}  // namespace rflow

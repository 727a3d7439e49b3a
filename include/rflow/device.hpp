// Devices a tensor can live on, and the run-time query for a usable GPU.
#pragma once

#include <string>

#include "rflow/export.hpp"

namespace rflow {

/// Where a tensor's storage lives. The same public headers describe CPU-only and CUDA builds.
enum class Device { cpu, cuda };

/// "cpu" or "cuda".
RFLOW_API const char* device_name(Device d);

/// True when this build has the CUDA backend and a GPU answers; never throws. (Also true under
/// RFLOW_EMULATE_CUDA=1 on a machine without a GPU: see cuda_emulated().)
RFLOW_API bool cuda_available();

/// The GPU architecture this build's CUDA backend was compiled for ("sm_90"), or "" in a build
/// without one (src/no_cuda.cpp's stubs).
RFLOW_API const char* cuda_build_arch();

/// True when the environment sets RFLOW_EMULATE_CUDA=1 and no GPU answers: Device::cuda tensors then
/// live in host memory and run the CPU kernels, yet stay as separate from CPU tensors as on a real
/// GPU (data() refuses them, mixing devices in one op is an error). It tests the device plumbing of
/// code above the backend (trainers, samplers, the CLI) on machines without a GPU; it says nothing
/// about the CUDA kernels themselves.
RFLOW_API bool cuda_emulated();

/// Waits until every operation queued on the device has finished (a no-op for the CPU, whose ops
/// return when done). For timing GPU work; reading a result (item(), to_vector()) waits anyway.
RFLOW_API void synchronize(Device d);

/// Let cuBLAS use TF32 tensor cores for float GEMMs on the GPU (10-bit mantissa products, FP32
/// accumulation): several times the FP32 throughput at about 1e-3 relative error. Off by default.
RFLOW_API void set_allow_tf32(bool on);
RFLOW_API bool allow_tf32();

/// Threads used by GEMM-bound CPU work (results do not depend on it). 0 = library default.
RFLOW_API void set_num_threads(int n);
RFLOW_API int num_threads();

}  // namespace rflow

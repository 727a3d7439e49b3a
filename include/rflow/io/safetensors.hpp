// safetensors reader/writer (strictly validated) and dtype conversion to/from float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rflow/export.hpp"

namespace rflow::io {

/// Element types of a safetensors file (names as in the format: "F32", "F16", ...).
enum class DType { F32, F16, BF16, F64, I64, I32, U8, BOOL };

/// Format name of a dtype: "F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL".
RFLOW_API const char* dtype_name(DType dtype);

/// Size of one element in bytes.
RFLOW_API size_t dtype_size(DType dtype);

/// One tensor as stored: dtype, shape and little-endian element bytes.
struct RawTensor {
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
};

/// A whole safetensors file: "__metadata__" entries and tensors, both in file/insertion order.
struct RFLOW_API SafetensorsFile {
    std::vector<std::pair<std::string, std::string>> metadata;  ///< "__metadata__" (string -> string)
    std::vector<std::pair<std::string, RawTensor>> tensors;     ///< in file/insertion order
    std::string source;  ///< file name used in error messages

    /// Tensor by name, nullptr if absent.
    const RawTensor* find(const std::string& name) const;
    /// Tensor by name; rflow::Error naming the key and `source` if absent.
    const RawTensor& at(const std::string& name) const;
};

/// Deepest nesting of arrays and objects accepted in JSON read from files (headers, configs,
/// metadata): deeper text would exhaust the stack of a recursive reader or printer.
constexpr int kMaxJsonDepth = 64;

/// Nesting depth of JSON text (0 for a scalar), counted without parsing or recursion; brackets
/// inside strings do not count. Stops counting once `limit` is exceeded.
RFLOW_API int json_depth(std::string_view text, int limit = kMaxJsonDepth);

/// rflow::Error "<source>: <key>: JSON nested deeper than 64 levels" when `text` nests deeper
/// than kMaxJsonDepth; call before parsing JSON that came from a file.
RFLOW_API void check_json_depth(std::string_view text, const std::string& source, const std::string& key);

/// Parses and validates a safetensors image held in memory; errors name `source`.
RFLOW_API SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& source);

/// Reads and validates a safetensors file; errors name the path.
RFLOW_API SafetensorsFile read_safetensors(const std::string& path);

/// Serialises to the safetensors byte layout (header padded with spaces to a multiple of 8,
/// "__metadata__" first if non-empty, tensors in order with contiguous offsets).
/// rflow::Error on duplicate/reserved names or a byte count that does not match the shape.
RFLOW_API std::vector<uint8_t> serialize_safetensors(const SafetensorsFile& file);

/// Serialises and writes atomically (see write_file_atomic); `path` is untouched on any error.
RFLOW_API void write_safetensors(const std::string& path, const SafetensorsFile& file);

/// Converts any supported dtype to float (BOOL -> 0/1, integers by value).
RFLOW_API std::vector<float> to_f32(const RawTensor& tensor);

/// to_f32 for weights: rflow::Error "<source>: <key>: element i is nan (weights must be finite
/// numbers)" when any value is a NaN or an infinity.
RFLOW_API std::vector<float> to_f32_finite(const RawTensor& tensor, const std::string& source, const std::string& key);

/// Builds a tensor of `dtype` (F32, F16 or BF16 only, else rflow::Error) from floats; the number of
/// elements read from `data` is the product of `shape`.
RFLOW_API RawTensor from_f32(const float* data, std::vector<int64_t> shape, DType dtype = DType::F32);

}  // namespace rflow::io

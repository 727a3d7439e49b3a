// CRC-32C (Castagnoli), the checksum of TFRecord / TensorBoard event files, and its "masked" form
// that those files store. Not zlib's crc32: a different polynomial (0x1EDC6F41, reflected 0x82F63B78).
#pragma once

#include <cstddef>
#include <cstdint>

#include "rflow/export.hpp"

namespace rflow::io {

/// CRC-32C of n bytes, continuing from `crc` (the CRC of the bytes before; 0 to start):
/// crc32c(p, n) == crc32c(p + k, n - k, crc32c(p, k)). crc32c("123456789", 9) == 0xE3069283.
RFLOW_API uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

/// The masked CRC-32C that TFRecord files store: ((c >> 15) | (c << 17)) + 0xa282ead8 with
/// c = crc32c(data, n) (rotated and offset, so a CRC of data that itself holds CRCs is not trivial).
RFLOW_API uint32_t masked_crc32c(const void* data, size_t n);

}  // namespace rflow::io

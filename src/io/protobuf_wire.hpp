// Just enough of the protobuf wire format to write messages by hand (private to the library).
//
// A message is a sequence of fields, each a key then a payload; key = (field_number << 3) | wire_type:
//   wire type 0 varint            int32/int64/bool; 7 bits per byte, low group first, high bit =
//                                 "more"; negative ints take 10 bytes (two's complement as uint64)
//   wire type 1 fixed64           double, little endian
//   wire type 2 length-delimited  string, bytes, embedded message: varint length, then the bytes
//   wire type 5 fixed32           float, little endian
// Fields may come in any order; an absent field reads as its default (0, "", empty message).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace rflow::io::pb {

inline void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

inline void put_key(std::string& out, uint32_t field, uint32_t wire_type) {
    put_varint(out, (uint64_t{field} << 3) | wire_type);
}

inline void put_le(std::string& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

/// int32 / int64 / enum field (wire type 0).
inline void put_int(std::string& out, uint32_t field, int64_t v) {
    put_key(out, field, 0);
    put_varint(out, static_cast<uint64_t>(v));
}

/// double field (wire type 1).
inline void put_double(std::string& out, uint32_t field, double v) {
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    put_key(out, field, 1);
    put_le(out, bits, 8);
}

/// float field (wire type 5).
inline void put_float(std::string& out, uint32_t field, float v) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    put_key(out, field, 5);
    put_le(out, bits, 4);
}

/// string, bytes or an already serialized embedded message (wire type 2).
inline void put_bytes(std::string& out, uint32_t field, const void* data, size_t n) {
    put_key(out, field, 2);
    put_varint(out, n);
    out.append(static_cast<const char*>(data), n);
}

inline void put_bytes(std::string& out, uint32_t field, const std::string& s) {
    put_bytes(out, field, s.data(), s.size());
}

}  // namespace rflow::io::pb

// safetensors: strict reader (checks in the order of DESIGN.md section 4), writer, dtype conversions.
#include "rflow/io/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"
#include "rflow/io/half.hpp"

namespace rflow::io {

namespace {

using ojson = nlohmann::ordered_json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";
constexpr DType kAllDTypes[] = {DType::F32, DType::F16, DType::BF16, DType::F64,
                                DType::I64, DType::I32, DType::U8,   DType::BOOL};

bool dtype_from_name(const std::string& s, DType* out) {
    for (DType d : kAllDTypes) {
        if (s == dtype_name(d)) {
            *out = d;
            return true;
        }
    }
    return false;
}

template <typename T>
std::string shape_str(const std::vector<T>& shape) {
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    os << "]";
    return os.str();
}

uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t load_u32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t load_u64(const uint8_t* p) {
    return static_cast<uint64_t>(load_u32(p)) | (static_cast<uint64_t>(load_u32(p + 4)) << 32);
}
void store_u16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
}
void store_u32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void store_u64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

/// Element count of non-negative dims; false if it does not fit in int64 (a zero dim gives 0).
bool checked_numel(const std::vector<uint64_t>& dims, uint64_t* out) {
    const uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    for (uint64_t d : dims) {
        if (d > kMax) return false;
        if (d == 0) {
            *out = 0;
            return true;
        }
    }
    uint64_t n = 1;
    for (uint64_t d : dims) {
        if (n > kMax / d) return false;
        n *= d;
    }
    *out = n;
    return true;
}

/// Byte count of a tensor of `dims` and dtype size `elem`; false on int64 or size_t overflow.
bool checked_nbytes(const std::vector<uint64_t>& dims, size_t elem, size_t* out) {
    uint64_t n = 0;
    if (!checked_numel(dims, &n)) return false;
    if (n > std::numeric_limits<size_t>::max() / elem) return false;
    *out = static_cast<size_t>(n) * elem;
    return true;
}

std::vector<uint64_t> dims_of(const std::vector<int64_t>& shape) {
    std::vector<uint64_t> dims;
    dims.reserve(shape.size());
    for (int64_t d : shape) dims.push_back(static_cast<uint64_t>(d));
    return dims;
}

/// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and > U+10FFFF rejected),
/// or n if valid.
size_t utf8_error_offset(const uint8_t* p, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (n - i < len) return i;
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += len;
    }
    return n;
}

/// SAX handler that only validates: records the first duplicate key (per object level) and the
/// parse error text, if any.
struct DuplicateKeySax {
    std::vector<std::unordered_set<std::string>> keys;  // keys seen, per open object
    std::vector<std::string> path;                      // current key, per open object
    bool has_duplicate = false;
    std::string duplicate;  // the key
    std::string parent;     // dotted path of the object holding it ("" at top level)
    std::string error;

    bool null() { return true; }
    bool boolean(bool) { return true; }
    bool number_integer(ojson::number_integer_t) { return true; }
    bool number_unsigned(ojson::number_unsigned_t) { return true; }
    bool number_float(ojson::number_float_t, const ojson::string_t&) { return true; }
    bool string(ojson::string_t&) { return true; }
    bool binary(ojson::binary_t&) { return true; }
    bool start_object(std::size_t) {
        keys.emplace_back();
        path.emplace_back();
        return true;
    }
    bool key(ojson::string_t& k) {
        if (!keys.back().insert(k).second && !has_duplicate) {
            has_duplicate = true;
            duplicate = k;
            for (size_t i = 0; i + 1 < path.size(); ++i) parent += (i ? "." : "") + path[i];
        }
        path.back() = k;
        return true;
    }
    bool end_object() {
        keys.pop_back();
        path.pop_back();
        return true;
    }
    bool start_array(std::size_t) { return true; }
    bool end_array() { return true; }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
        error = ex.what();
        return false;
    }
};

/// One header entry while it is being validated.
struct Entry {
    std::string name;
    std::string dtype_str;
    DType dtype = DType::F32;
    std::vector<uint64_t> dims;
    uint64_t begin = 0, end = 0;
    size_t nbytes = 0;
};

std::vector<uint8_t> serialize_impl(const SafetensorsFile& file, const std::string& label) {
    {
        std::unordered_set<std::string> seen;
        for (const auto& kv : file.metadata)
            RFLOW_CHECK(seen.insert(kv.first).second,
                        "safetensors '" << label << "': duplicate metadata key '" << kv.first << "'");
    }
    std::unordered_set<std::string> names;
    for (const auto& kv : file.tensors) {
        const std::string& name = kv.first;
        const RawTensor& t = kv.second;
        RFLOW_CHECK(name != kMetadataKey,
                    "safetensors '" << label << "': tensor name '" << name << "' is reserved");
        RFLOW_CHECK(names.insert(name).second,
                    "safetensors '" << label << "': duplicate tensor name '" << name << "'");
        for (int64_t d : t.shape)
            RFLOW_CHECK(d >= 0, "safetensors '" << label << "': tensor '" << name
                                                << "' has a negative dimension in shape "
                                                << shape_str(t.shape));
        size_t nbytes = 0;
        RFLOW_CHECK(checked_nbytes(dims_of(t.shape), dtype_size(t.dtype), &nbytes),
                    "safetensors '" << label << "': tensor '" << name << "': shape "
                                    << shape_str(t.shape) << " size overflows");
        RFLOW_CHECK(nbytes == t.bytes.size(),
                    "safetensors '" << label << "': tensor '" << name << "' has " << t.bytes.size()
                                    << " bytes but shape " << shape_str(t.shape) << " of "
                                    << dtype_name(t.dtype) << " needs " << nbytes);
    }

    ojson header = ojson::object();
    if (!file.metadata.empty()) {
        ojson meta = ojson::object();
        for (const auto& kv : file.metadata) meta[kv.first] = kv.second;
        header[kMetadataKey] = std::move(meta);
    }
    uint64_t offset = 0;
    for (const auto& kv : file.tensors) {
        const RawTensor& t = kv.second;
        ojson entry = ojson::object();
        entry["dtype"] = dtype_name(t.dtype);
        ojson shape = ojson::array();
        for (int64_t d : t.shape) shape.push_back(d);
        entry["shape"] = std::move(shape);
        ojson offs = ojson::array();
        offs.push_back(offset);
        offs.push_back(offset + t.bytes.size());
        entry["data_offsets"] = std::move(offs);
        header[kv.first] = std::move(entry);
        offset += t.bytes.size();
    }
    std::string text;
    try {
        text = header.dump(-1, ' ', false, ojson::error_handler_t::strict);
    } catch (const std::exception& e) {
        RFLOW_FAIL("safetensors '" << label
                                   << "': cannot encode header (names and metadata must be valid "
                                      "UTF-8): "
                                   << e.what());
    }
    while (text.size() % 8 != 0) text.push_back(' ');

    std::vector<uint8_t> out(8 + text.size() + offset);
    store_u64(out.data(), text.size());
    std::memcpy(out.data() + 8, text.data(), text.size());
    uint8_t* dst = out.data() + 8 + text.size();
    for (const auto& kv : file.tensors) {
        if (!kv.second.bytes.empty()) std::memcpy(dst, kv.second.bytes.data(), kv.second.bytes.size());
        dst += kv.second.bytes.size();
    }
    return out;
}

}  // namespace

const char* dtype_name(DType dtype) {
    switch (dtype) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::F64: return "F64";
        case DType::I64: return "I64";
        case DType::I32: return "I32";
        case DType::U8: return "U8";
        case DType::BOOL: return "BOOL";
    }
    RFLOW_FAIL("dtype_name: invalid DType value " << static_cast<int>(dtype));
}

size_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::F32: return 4;
        case DType::F16: return 2;
        case DType::BF16: return 2;
        case DType::F64: return 8;
        case DType::I64: return 8;
        case DType::I32: return 4;
        case DType::U8: return 1;
        case DType::BOOL: return 1;
    }
    RFLOW_FAIL("dtype_size: invalid DType value " << static_cast<int>(dtype));
}

int json_depth(std::string_view text, int limit) {
    int depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
            if (deepest > limit) return deepest;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

void check_json_depth(std::string_view text, const std::string& source, const std::string& key) {
    RFLOW_CHECK(json_depth(text) <= kMaxJsonDepth, source << ": " << key << ": JSON nested deeper than "
                                                          << kMaxJsonDepth << " levels (at most "
                                                          << kMaxJsonDepth << " accepted)");
}

const RawTensor* SafetensorsFile::find(const std::string& name) const {
    for (const auto& kv : tensors)
        if (kv.first == name) return &kv.second;
    return nullptr;
}

const RawTensor& SafetensorsFile::at(const std::string& name) const {
    const RawTensor* t = find(name);
    RFLOW_CHECK(t, "safetensors '" << source << "': no tensor named '" << name << "'");
    return *t;
}

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& source) {
#define RFLOW_ST_PREFIX "safetensors '" << source << "': "
    // (1) length prefix present
    RFLOW_CHECK(size >= 8, RFLOW_ST_PREFIX << "file is too short (" << size
                                           << " bytes) to hold the 8-byte header length");
    const uint64_t n = load_u64(data);
    // (2) header size limit
    RFLOW_CHECK(n <= kMaxHeaderBytes, RFLOW_ST_PREFIX << "header length " << n
                                                      << " exceeds the limit of " << kMaxHeaderBytes
                                                      << " bytes (100 MB)");
    // (3) header inside the file
    RFLOW_CHECK(n <= size - 8, RFLOW_ST_PREFIX << "header (" << n
                                               << " bytes) extends past the end of the file ("
                                               << size << " bytes in all)");
    const uint8_t* hdr = data + 8;
    const char* hbeg = reinterpret_cast<const char*>(hdr);
    const char* hend = hbeg + n;

    // (4) UTF-8 JSON object with well-formed entries
    const size_t bad = utf8_error_offset(hdr, static_cast<size_t>(n));
    RFLOW_CHECK(bad == n, RFLOW_ST_PREFIX << "header is not valid UTF-8 (bad byte 0x" << std::hex
                                          << static_cast<int>(hdr[bad]) << std::dec
                                          << " at header offset " << bad << ")");
    check_json_depth(std::string_view(hbeg, static_cast<size_t>(n)), "safetensors '" + source + "'", "header");
    DuplicateKeySax sax;
    const bool parsed = ojson::sax_parse(hbeg, hend, &sax);
    RFLOW_CHECK(parsed, RFLOW_ST_PREFIX << "header is not valid JSON: " << sax.error);
    ojson header;
    try {
        header = ojson::parse(hbeg, hend);
    } catch (const std::exception& e) {
        RFLOW_FAIL(RFLOW_ST_PREFIX << "header is not valid JSON: " << e.what());
    }
    RFLOW_CHECK(header.is_object(),
                RFLOW_ST_PREFIX << "header is not a JSON object (it is " << header.type_name() << ")");

    SafetensorsFile out;
    out.source = source;
    std::vector<Entry> entries;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& key = it.key();
        const ojson& v = it.value();
        if (key == kMetadataKey) {
            RFLOW_CHECK(v.is_object(), RFLOW_ST_PREFIX << "\"__metadata__\" must be an object of "
                                                          "strings, not "
                                                       << v.type_name());
            for (auto m = v.begin(); m != v.end(); ++m) {
                RFLOW_CHECK(m.value().is_string(),
                            RFLOW_ST_PREFIX << "\"__metadata__\" must be an object of strings, but key '"
                                            << m.key() << "' holds " << m.value().type_name());
                out.metadata.emplace_back(m.key(), m.value().get<std::string>());
            }
            continue;
        }
        RFLOW_CHECK(v.is_object(), RFLOW_ST_PREFIX << "tensor '" << key
                                                   << "': entry is not a JSON object (it is "
                                                   << v.type_name() << ")");
        Entry e;
        e.name = key;
        auto dt = v.find("dtype");
        RFLOW_CHECK(dt != v.end() && dt->is_string(),
                    RFLOW_ST_PREFIX << "tensor '" << key << "': missing or non-string \"dtype\"");
        e.dtype_str = dt->get<std::string>();
        auto sh = v.find("shape");
        bool shape_ok = sh != v.end() && sh->is_array();
        if (shape_ok) {
            for (const auto& d : *sh) {
                if (!d.is_number_unsigned()) {
                    shape_ok = false;
                    break;
                }
                e.dims.push_back(d.get<uint64_t>());
            }
        }
        RFLOW_CHECK(shape_ok, RFLOW_ST_PREFIX << "tensor '" << key
                                              << "': \"shape\" must be an array of non-negative "
                                                 "integers");
        auto off = v.find("data_offsets");
        const bool off_ok = off != v.end() && off->is_array() && off->size() == 2 &&
                            (*off)[0].is_number_unsigned() && (*off)[1].is_number_unsigned();
        RFLOW_CHECK(off_ok, RFLOW_ST_PREFIX << "tensor '" << key
                                            << "': \"data_offsets\" must be [begin, end] with "
                                               "non-negative integers");
        e.begin = (*off)[0].get<uint64_t>();
        e.end = (*off)[1].get<uint64_t>();
        RFLOW_CHECK(e.begin <= e.end, RFLOW_ST_PREFIX << "tensor '" << key << "': \"data_offsets\" ["
                                                      << e.begin << ", " << e.end
                                                      << "] has begin > end");
        entries.push_back(std::move(e));
    }

    // (5) duplicate keys
    RFLOW_CHECK(!sax.has_duplicate,
                RFLOW_ST_PREFIX << "duplicate key '" << sax.duplicate << "'"
                                << (sax.parent.empty() ? std::string(" in the header")
                                                       : " in object '" + sax.parent + "'"));
    // (6) dtypes
    for (Entry& e : entries)
        RFLOW_CHECK(dtype_from_name(e.dtype_str, &e.dtype),
                    RFLOW_ST_PREFIX << "tensor '" << e.name << "': unknown dtype '" << e.dtype_str
                                    << "' (expected F32, F16, BF16, F64, I64, I32, U8 or BOOL)");
    // (7) shape product overflow
    for (Entry& e : entries)
        RFLOW_CHECK(checked_nbytes(e.dims, dtype_size(e.dtype), &e.nbytes),
                    RFLOW_ST_PREFIX << "tensor '" << e.name << "': shape " << shape_str(e.dims)
                                    << " overflows (element count or byte size does not fit)");
    // (8) byte size matches the offsets
    for (const Entry& e : entries)
        RFLOW_CHECK(static_cast<uint64_t>(e.nbytes) == e.end - e.begin,
                    RFLOW_ST_PREFIX << "tensor '" << e.name << "': byte size " << e.nbytes
                                    << " (shape " << shape_str(e.dims) << " of " << e.dtype_str
                                    << ") does not match data_offsets end - begin = "
                                    << (e.end - e.begin));
    // (9) offsets tile the data section exactly
    const uint64_t data_size = size - 8 - n;
    std::vector<const Entry*> order;
    order.reserve(entries.size());
    for (const Entry& e : entries) order.push_back(&e);
    std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    uint64_t covered = 0;
    const Entry* prev = nullptr;
    for (const Entry* e : order) {
        RFLOW_CHECK(e->begin >= covered,
                    RFLOW_ST_PREFIX << "tensor '" << e->name << "': data_offsets [" << e->begin
                                    << ", " << e->end << "] overlap tensor '" << prev->name
                                    << "' (which ends at " << covered << ")");
        RFLOW_CHECK(e->begin == covered,
                    RFLOW_ST_PREFIX << "tensor '" << e->name << "': data_offsets [" << e->begin
                                    << ", " << e->end << "] leave a hole: data bytes [" << covered
                                    << ", " << e->begin << ") belong to no tensor");
        covered = e->end;
        prev = e;
    }
    if (covered > data_size) {
        RFLOW_FAIL(RFLOW_ST_PREFIX << "tensor '" << prev->name << "': data_offsets end " << covered
                                   << " is past the end of the file (data section has "
                                   << data_size << " bytes)");
    }
    RFLOW_CHECK(covered == data_size,
                RFLOW_ST_PREFIX << "tensor data ends at offset " << covered
                                << " but the data section has " << data_size
                                << " bytes: offsets do not end at the end of the file ("
                                << (data_size - covered) << " trailing bytes)");
#undef RFLOW_ST_PREFIX

    const uint8_t* body = data + 8 + n;
    out.tensors.reserve(entries.size());
    for (const Entry& e : entries) {
        RawTensor t;
        t.dtype = e.dtype;
        t.shape.assign(e.dims.begin(), e.dims.end());
        t.bytes.assign(body + e.begin, body + e.end);
        out.tensors.emplace_back(e.name, std::move(t));
    }
    return out;
}

SafetensorsFile read_safetensors(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file(path);
    return parse_safetensors(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> serialize_safetensors(const SafetensorsFile& file) {
    return serialize_impl(file, file.source.empty() ? std::string("<memory>") : file.source);
}

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
    const std::vector<uint8_t> bytes = serialize_impl(file, path);
    write_file_atomic(path, bytes.data(), bytes.size());
}

std::vector<float> to_f32(const RawTensor& t) {
    for (int64_t d : t.shape)
        RFLOW_CHECK(d >= 0, "to_f32: negative dimension in shape " << shape_str(t.shape));
    const size_t elem = dtype_size(t.dtype);
    size_t nbytes = 0;
    RFLOW_CHECK(checked_nbytes(dims_of(t.shape), elem, &nbytes),
                "to_f32: shape " << shape_str(t.shape) << " overflows");
    RFLOW_CHECK(nbytes == t.bytes.size(), "to_f32: tensor has " << t.bytes.size() << " bytes but shape "
                                                                << shape_str(t.shape) << " of "
                                                                << dtype_name(t.dtype) << " needs "
                                                                << nbytes);
    const size_t count = nbytes / elem;
    std::vector<float> out(count);
    const uint8_t* p = t.bytes.data();
    switch (t.dtype) {
        case DType::F32:
            for (size_t i = 0; i < count; ++i) out[i] = bits_float(load_u32(p + 4 * i));
            break;
        case DType::F16:
            for (size_t i = 0; i < count; ++i) out[i] = f16_bits_to_float(load_u16(p + 2 * i));
            break;
        case DType::BF16:
            for (size_t i = 0; i < count; ++i) out[i] = bf16_bits_to_float(load_u16(p + 2 * i));
            break;
        case DType::F64:
            for (size_t i = 0; i < count; ++i) {
                const uint64_t u = load_u64(p + 8 * i);
                double d;
                std::memcpy(&d, &u, sizeof d);
                out[i] = static_cast<float>(d);
            }
            break;
        case DType::I64:
            for (size_t i = 0; i < count; ++i)
                out[i] = static_cast<float>(static_cast<int64_t>(load_u64(p + 8 * i)));
            break;
        case DType::I32:
            for (size_t i = 0; i < count; ++i)
                out[i] = static_cast<float>(static_cast<int32_t>(load_u32(p + 4 * i)));
            break;
        case DType::U8:
            for (size_t i = 0; i < count; ++i) out[i] = static_cast<float>(p[i]);
            break;
        case DType::BOOL:
            for (size_t i = 0; i < count; ++i) out[i] = p[i] ? 1.0f : 0.0f;
            break;
    }
    return out;
}

std::vector<float> to_f32_finite(const RawTensor& tensor, const std::string& source, const std::string& key) {
    std::vector<float> v = to_f32(tensor);
    for (size_t i = 0; i < v.size(); ++i)
        RFLOW_CHECK(std::isfinite(v[i]), source << ": " << key << ": element " << i << " is " << v[i]
                                                << " (weights must be finite numbers)");
    return v;
}

RawTensor from_f32(const float* data, std::vector<int64_t> shape, DType dtype) {
    RFLOW_CHECK(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16,
                "from_f32: cannot write dtype " << dtype_name(dtype) << " (only F32, F16, BF16)");
    for (int64_t d : shape)
        RFLOW_CHECK(d >= 0, "from_f32: negative dimension in shape " << shape_str(shape));
    size_t nbytes = 0;
    RFLOW_CHECK(checked_nbytes(dims_of(shape), dtype_size(dtype), &nbytes),
                "from_f32: shape " << shape_str(shape) << " overflows");
    const size_t count = nbytes / dtype_size(dtype);
    RFLOW_CHECK(count == 0 || data, "from_f32: null data for " << count << " elements");
    RawTensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes.resize(nbytes);
    uint8_t* p = t.bytes.data();
    switch (dtype) {
        case DType::F32:
            for (size_t i = 0; i < count; ++i) store_u32(p + 4 * i, float_bits(data[i]));
            break;
        case DType::F16:
            for (size_t i = 0; i < count; ++i) store_u16(p + 2 * i, float_to_f16_bits(data[i]));
            break;
        default:  // BF16
            for (size_t i = 0; i < count; ++i) store_u16(p + 2 * i, float_to_bf16_bits(data[i]));
            break;
    }
    return t;
}

}  // namespace rflow::io

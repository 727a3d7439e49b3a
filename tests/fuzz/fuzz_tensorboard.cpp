// libFuzzer target: the TensorBoard event-file reader (rflow::io::read_tensorboard_events: TFRecord
// framing with masked CRC-32C; path only, so the input goes to a scratch file).
//
// Random bytes almost never carry right CRCs, so each input is read twice: as it is and with both
// CRCs of every complete record recomputed. Property: an accepted file is exactly its records framed
// again (length, masked CRC of the length, data, masked CRC of the data).
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "rflow/error.hpp"
#include "rflow/io/crc32c.hpp"
#include "rflow/io/tensorboard.hpp"

namespace {

void put_le(std::vector<uint8_t>& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

uint64_t le(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(p[i]) << (8 * i);
    return v;
}

// The input with both CRCs of each complete record set to the right value.
std::vector<uint8_t> fix_crcs(const uint8_t* data, size_t size) {
    std::vector<uint8_t> f(data, data + size);
    size_t at = 0;
    while (f.size() - at >= 16) {
        const uint64_t len = le(&f[at], 8);
        if (len > f.size() - at - 16) break;
        const uint32_t lc = rflow::io::masked_crc32c(&f[at], 8);
        const uint32_t dc = rflow::io::masked_crc32c(&f[at + 12], len);
        for (int i = 0; i < 4; ++i) {
            f[at + 8 + i] = uint8_t(lc >> (8 * i));
            f[at + 12 + len + i] = uint8_t(dc >> (8 * i));
        }
        at += 16 + size_t(len);
    }
    return f;
}

void read_events(const std::vector<uint8_t>& bytes) {
    const std::string path = fuzz::write_temp("events.out.tfevents", bytes.data(), bytes.size());
    std::vector<std::string> records;
    try {
        records = rflow::io::read_tensorboard_events(path);
    } catch (const rflow::Error&) {
        return;
    }
    std::vector<uint8_t> again;
    for (const std::string& r : records) {
        put_le(again, r.size(), 8);
        put_le(again, rflow::io::masked_crc32c(again.data() + again.size() - 8, 8), 4);
        again.insert(again.end(), r.begin(), r.end());
        put_le(again, rflow::io::masked_crc32c(r.data(), r.size()), 4);
    }
    if (again != bytes) fuzz::property_failed("an accepted event file is not its records framed again");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<uint8_t> raw(data, data + size);
    read_events(raw);
    const std::vector<uint8_t> fixed = fix_crcs(data, size);
    if (fixed != raw) read_events(fixed);
    return 0;
}

// libFuzzer target: the IDX readers (rflow::data::read_idx_images / read_idx_labels). They take a
// path, so the input goes to a scratch file; gzread reads it plain or gzip-compressed.
#include <cstdint>

#include "fuzz_util.hpp"
#include "rflow/data/idx.hpp"
#include "rflow/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_temp("input.idx", data, size);
    try {
        const rflow::data::IdxImages im = rflow::data::read_idx_images(path);
        if (im.images.numel() != im.count * im.height * im.width)
            fuzz::property_failed("IDX image tensor size differs from N x H x W");
    } catch (const rflow::Error&) {
    }
    try {
        const std::vector<int64_t> labels = rflow::data::read_idx_labels(path);
        for (int64_t l : labels)
            if (l < 0 || l > 255) fuzz::property_failed("IDX label outside a byte");
    } catch (const rflow::Error&) {
    }
    return 0;
}

// libFuzzer target: the CSV point reader (rflow::data::load_points_csv, path only: scratch file).
// An accepted file gives a 2-D tensor of finite values.
#include <cmath>
#include <cstdint>

#include "fuzz_util.hpp"
#include "rflow/data/csv.hpp"
#include "rflow/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_temp("points.csv", data, size);
    try {
        std::vector<std::string> header;
        const rflow::Tensor t = rflow::data::load_points_csv(path, &header);
        if (t.dim() != 2 || t.size(0) < 1) fuzz::property_failed("CSV tensor is not [rows >= 1, columns]");
        if (!header.empty() && static_cast<int64_t>(header.size()) != t.size(1))
            fuzz::property_failed("CSV header width differs from the column count");
        for (float v : t.to_vector())
            if (!std::isfinite(v)) fuzz::property_failed("CSV value not finite");
    } catch (const rflow::Error&) {
    }
    return 0;
}

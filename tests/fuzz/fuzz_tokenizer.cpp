// libFuzzer target: the tokenizer vocabulary loader (rflow::data::UnigramTokenizer::load, path
// only: scratch file). An accepted vocabulary must then behave: encode/sample of a short text either
// throw rflow::Error (a text the vocabulary cannot segment) or give ids that decode to the text.
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "rflow/data/tokenizer.hpp"
#include "rflow/error.hpp"
#include "rflow/philox.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using rflow::data::UnigramTokenizer;
    const std::string path = fuzz::write_temp("vocab.json", data, size);
    std::unique_ptr<UnigramTokenizer> tok;
    try {
        tok = std::make_unique<UnigramTokenizer>(UnigramTokenizer::load(path));
    } catch (const rflow::Error&) {
        return 0;
    }
    // a text made of the input's last bytes, so the fuzzer steers it too
    const size_t n = size < 48 ? size : 48;
    const std::string text(reinterpret_cast<const char*>(data) + size - n, n);
    try {
        const std::vector<int64_t> ids = tok->encode(text);
        if (tok->decode(ids) != text) fuzz::property_failed("decode(encode(text)) != text");
        rflow::Generator gen(1);
        const std::vector<int64_t> s = tok->sample(text, 0.5, gen);
        if (tok->decode(s) != text) fuzz::property_failed("decode(sample(text)) != text");
    } catch (const rflow::Error&) {
    }
    return 0;
}

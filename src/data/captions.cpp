// Caption templates for class-labelled images (see captions.hpp).
#include "rflow/data/captions.hpp"

#include <algorithm>
#include <cctype>

#include "rflow/error.hpp"

namespace rflow::data {

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string fill(const std::string& templ, const std::string& phrase) {
    const size_t at = templ.find("{}");
    return at == std::string::npos ? templ : templ.substr(0, at) + phrase + templ.substr(at + 2);
}

const std::vector<std::string>& default_templates() {
    static const std::vector<std::string> t{"a photo of a {}",    "a {}",         "{}",
                                            "a picture of a {}",  "an image of a {}",
                                            "a grayscale photo of a {}", "a small {}", "a product photo of a {}"};
    return t;
}

int64_t pick(Generator& gen, size_t n) {
    int64_t i = 0;
    gen.randint(&i, 1, 0, static_cast<int64_t>(n));
    return i;
}

}  // namespace

std::string CaptionSet::random_caption(int64_t c, Generator& gen) const {
    RFLOW_CHECK(c >= 0 && c < num_classes(), "captions: class " << c << " outside [0, " << num_classes() << ")");
    const std::string& t = templates[static_cast<size_t>(pick(gen, templates.size()))];
    const auto& p = phrases[static_cast<size_t>(c)];
    return fill(t, p[static_cast<size_t>(pick(gen, p.size()))]);
}

std::string CaptionSet::canonical_caption(int64_t c) const {
    RFLOW_CHECK(c >= 0 && c < num_classes(), "captions: class " << c << " outside [0, " << num_classes() << ")");
    return fill(templates.front(), phrases[static_cast<size_t>(c)].front());
}

std::vector<std::string> CaptionSet::all_captions() const {
    std::vector<std::string> out;
    for (const auto& t : templates)
        for (const auto& cls : phrases)
            for (const auto& p : cls) out.push_back(fill(t, p));
    return out;
}

int64_t CaptionSet::prompt_class(const std::string& prompt) const {
    const std::string text = lower(prompt);
    int64_t best = -1;
    size_t best_len = 0;
    for (size_t c = 0; c < phrases.size(); ++c)
        for (const auto& p : phrases[c]) {
            const std::string q = lower(p);
            if (q.size() > best_len && text.find(q) != std::string::npos) best = static_cast<int64_t>(c), best_len = q.size();
        }
    return best;
}

const CaptionSet& fashion_mnist_captions() {
    static const CaptionSet set{{{"t-shirt", "tee", "top", "t shirt"},
                                 {"pair of trousers", "trousers", "pants", "jeans"},
                                 {"pullover", "sweater", "jumper"},
                                 {"dress", "gown", "frock"},
                                 {"coat", "jacket", "overcoat"},
                                 {"sandal", "pair of sandals", "flip-flop"},
                                 {"shirt", "button-up shirt", "blouse"},
                                 {"sneaker", "pair of sneakers", "trainer", "running shoe"},
                                 {"bag", "handbag", "purse", "tote"},
                                 {"ankle boot", "boot", "pair of boots"}},
                                default_templates()};
    return set;
}

CaptionSet captions_from_class_names(const std::vector<std::string>& names) {
    RFLOW_CHECK(!names.empty(), "captions: no class names");
    CaptionSet s;
    for (const auto& n : names) s.phrases.push_back({n});
    s.templates = default_templates();
    return s;
}

}  // namespace rflow::data

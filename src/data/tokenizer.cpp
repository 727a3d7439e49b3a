// Byte-level unigram tokenizer: vocabulary, reversed-piece trie, Viterbi decoding and the exact
// Viterbi sampler (SPEC.md 6.b-6.c), and the JSON vocabulary file. Training is in
// tokenizer_train.cpp.
#include "rflow/data/tokenizer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/philox_math.hpp"
#include "data/unigram_trie.hpp"
#include "rflow/error.hpp"
#include "rflow/io/atomic_file.hpp"
#include "rflow/philox.hpp"

namespace rflow::data {

struct UnigramTokenizer::Impl {
    std::vector<std::string> pieces;
    std::vector<double> logp;
    std::unordered_map<std::string_view, int64_t> index;  // views into `pieces`
    detail::ReverseTrie trie;
};

namespace detail {

void ReverseTrie::build(const std::vector<std::string>& pieces) {
    // 1. A plain trie of the reversed pieces, children kept sorted by byte.
    struct Node {
        std::vector<std::pair<uint8_t, int32_t>> kids;
        int32_t id = -1;
    };
    std::vector<Node> nodes(1);
    max_len_ = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
        const std::string& p = pieces[i];
        max_len_ = std::max<int64_t>(max_len_, static_cast<int64_t>(p.size()));
        int32_t n = 0;
        for (size_t k = p.size(); k-- > 0;) {
            const uint8_t c = static_cast<uint8_t>(p[k]);
            auto& kids = nodes[n].kids;
            auto it = std::lower_bound(kids.begin(), kids.end(), c,
                                       [](const auto& a, uint8_t b) { return a.first < b; });
            if (it == kids.end() || it->first != c) {
                const int32_t fresh = static_cast<int32_t>(nodes.size());
                kids.insert(it, {c, fresh});
                nodes.emplace_back();  // invalidates `kids` and `it`; neither is used again
                n = fresh;
            } else {
                n = it->second;
            }
        }
        nodes[n].id = static_cast<int32_t>(i);
    }
    // 2. Place nodes breadth first: for each node, the smallest base >= 1 whose slots base + c are
    //    free for all its child bytes c (first-fit from the first free slot).
    units_.assign(512, Unit{});
    units_[0].check = -2;
    int64_t first_free = 1, max_base = 0;
    std::vector<std::pair<int32_t, int32_t>> queue{{0, 0}};  // (plain node, slot)
    for (size_t q = 0; q < queue.size(); ++q) {
        const auto [node, slot] = queue[q];
        units_[slot].id = nodes[node].id;
        const auto& kids = nodes[node].kids;
        if (kids.empty()) continue;
        auto grow_to = [&](int64_t need) {
            if (static_cast<size_t>(need) > units_.size()) units_.resize(2 * static_cast<size_t>(need));
        };
        for (grow_to(first_free + 1); units_[first_free].check != -1; grow_to(first_free + 1))
            ++first_free;
        int64_t base = std::max<int64_t>(1, first_free - kids.front().first);
        for (;; ++base) {
            grow_to(base + 256);
            bool ok = true;
            for (const auto& [c, child] : kids)
                if (units_[base + c].check != -1) { ok = false; break; }
            if (ok) break;
        }
        units_[slot].base = static_cast<int32_t>(base);
        max_base = std::max(max_base, base);
        for (const auto& [c, child] : kids) {
            units_[base + c].check = slot;
            queue.emplace_back(child, static_cast<int32_t>(base + c));
        }
    }
    // Every lookup base + c (leaves have base 0) stays inside the array.
    // Used slots are at most max_base + 255.
    units_.resize(static_cast<size_t>(max_base + 256));
}

}  // namespace detail

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr int64_t kMaxPieceBytes = 1024;

// Validates and indexes a vocabulary; `where` prefixes errors ("path: " for files, "" otherwise).
std::shared_ptr<UnigramTokenizer::Impl> make_impl(std::vector<std::pair<std::string, double>> v,
                                                  const std::string& where) {
    RFLOW_CHECK(!v.empty(), where << "the vocabulary is empty");
    auto impl = std::make_shared<UnigramTokenizer::Impl>();
    impl->pieces.reserve(v.size());
    impl->logp.reserve(v.size());
    for (auto& [p, lp] : v) {
        const size_t i = impl->pieces.size();
        RFLOW_CHECK(!p.empty(), where << "pieces[" << i << "] is empty");
        RFLOW_CHECK(static_cast<int64_t>(p.size()) <= kMaxPieceBytes,
                    where << "pieces[" << i << "] has " << p.size() << " bytes, more than "
                          << kMaxPieceBytes);
        RFLOW_CHECK(std::isfinite(lp), where << "pieces[" << i << "] has log-probability " << lp
                                             << " (must be finite)");
        impl->pieces.push_back(std::move(p));
        impl->logp.push_back(lp);
    }
    impl->index.reserve(impl->pieces.size());
    for (size_t i = 0; i < impl->pieces.size(); ++i) {
        const auto [it, fresh] = impl->index.emplace(impl->pieces[i], static_cast<int64_t>(i));
        RFLOW_CHECK(fresh, where << "pieces[" << i << "] duplicates pieces[" << it->second << "]");
    }
    impl->trie.build(impl->pieces);
    return impl;
}

// Per-thread work arrays reused across calls (short prompts should not allocate).
struct Lattice {
    std::vector<double> z;      // z[e]: best score (Viterbi) or log-partition (sampling) of text[0, e)
    std::vector<int64_t> back;  // back[e]: start of the last token of the kept path to e
    std::vector<int32_t> bid;   // bid[e]: its piece id
    void reset(int64_t l) {
        z.assign(static_cast<size_t>(l + 1), kNegInf);
        back.resize(static_cast<size_t>(l + 1));
        bid.resize(static_cast<size_t>(l + 1));
        z[0] = 0.0;
    }
};

Lattice& lattice() {
    thread_local Lattice lat;
    return lat;
}

// Uniforms u = w 2^-32 in [0, 1) from the generator's 32-bit Philox words: the generator reserves
// kWords words at a time (Generator::reserve, block aligned) and blocks are computed as they are
// needed. Word k of a reservation at offset o is lane k % 4 of block (o + k) / 4 of (seed,
// stream), as in every rflow stream. How many words a call reserves depends only on how many
// draws it makes, so results are reproducible from the generator state. 32 bits bound the error
// of each acceptance probability by 2^-32, far below sampling noise.
class Uniforms {
public:
    explicit Uniforms(Generator& gen) : gen_(gen) {}
    double next() {
        if (pos_ == kWords) {
            block0_ = gen_.reserve(kWords) / 4;
            pos_ = 0;
        }
        if ((pos_ & 3) == 0)
            block_ = rflow::detail::philox_block(gen_.seed(), gen_.stream(), block0_ + pos_ / 4);
        const uint32_t w = block_.v[pos_ & 3];
        ++pos_;
        return static_cast<double>(w) * 0x1p-32;
    }

private:
    static constexpr uint64_t kWords = 64;
    Generator& gen_;
    uint64_t block0_ = 0;
    uint64_t pos_ = kWords;
    rflow::detail::PhiloxU32x4 block_{};
};

// The matches ending at one position e, in the order the decision rule sees them.
struct Candidates {
    int64_t start[kMaxPieceBytes];
    int32_t id[kMaxPieceBytes];
    int n = 0;
};

// Calls rule(e, cands) for e = 1 .. l (increasing end), cands holding the matches text[s, e) in
// the requested order (the trie yields them shortest first; longest_first reverses the list).
template <class Rule>
void scan(const detail::ReverseTrie& trie, const uint8_t* text, int64_t l, CandidateOrder order,
          Rule&& rule) {
    Candidates c;
    for (int64_t e = 1; e <= l; ++e) {
        c.n = 0;
        trie.for_each_ending_at(text, e, [&](int64_t s, int32_t id) {
            c.start[c.n] = s;
            c.id[c.n] = id;
            ++c.n;
        });
        if (order == CandidateOrder::longest_first) {
            std::reverse(c.start, c.start + c.n);
            std::reverse(c.id, c.id + c.n);
        }
        if (c.n > 0) rule(e, c);
    }
}

// Follows back[] from l to 0; throws when no segmentation reaches l.
std::vector<int64_t> backtrack(const Lattice& lat, int64_t l) {
    if (lat.z[static_cast<size_t>(l)] == kNegInf) {
        int64_t reach = 0;
        for (int64_t e = 0; e <= l; ++e)
            if (lat.z[static_cast<size_t>(e)] != kNegInf) reach = e;
        RFLOW_FAIL("the text (" << l << " bytes) has no segmentation into vocabulary pieces: the "
                   "longest prefix that has one ends at byte " << reach);
    }
    std::vector<int64_t> ids;
    for (int64_t e = l; e > 0; e = lat.back[static_cast<size_t>(e)])
        ids.push_back(lat.bid[static_cast<size_t>(e)]);
    std::reverse(ids.begin(), ids.end());
    return ids;
}

// Strict UTF-8 check (no overlong forms, no surrogates, nothing above U+10FFFF).
bool valid_utf8(const std::string& s) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    const size_t n = s.size();
    for (size_t i = 0; i < n;) {
        const uint8_t c = p[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) { ++i; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1Fu; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0Fu; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07u; }
        else return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0u) != 0x80u) return false;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += len;
    }
    return true;
}

std::string to_hex(const std::string& s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

UnigramTokenizer::UnigramTokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

UnigramTokenizer::UnigramTokenizer(std::vector<std::pair<std::string, double>> pieces_with_logprob)
    : impl_(make_impl(std::move(pieces_with_logprob), "")) {}

int64_t UnigramTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->pieces.size()); }
int64_t UnigramTokenizer::max_piece_bytes() const { return impl_->trie.max_len(); }

const std::string& UnigramTokenizer::piece(int64_t id) const {
    RFLOW_CHECK(id >= 0 && id < vocab_size(),
                "unknown token id " << id << " (vocabulary has " << vocab_size() << " pieces)");
    return impl_->pieces[static_cast<size_t>(id)];
}

double UnigramTokenizer::log_prob(int64_t id) const {
    RFLOW_CHECK(id >= 0 && id < vocab_size(),
                "unknown token id " << id << " (vocabulary has " << vocab_size() << " pieces)");
    return impl_->logp[static_cast<size_t>(id)];
}

int64_t UnigramTokenizer::piece_id(std::string_view p) const {
    const auto it = impl_->index.find(p);
    return it == impl_->index.end() ? -1 : it->second;
}

std::string UnigramTokenizer::decode(const std::vector<int64_t>& ids) const {
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) {
        RFLOW_CHECK(ids[i] >= 0 && ids[i] < vocab_size(),
                    "unknown token id " << ids[i] << " at position " << i << " (vocabulary has "
                                        << vocab_size() << " pieces)");
        out += impl_->pieces[static_cast<size_t>(ids[i])];
    }
    return out;
}

std::vector<UnigramMatch> UnigramTokenizer::matches(const std::string& text,
                                                    CandidateOrder order) const {
    std::vector<UnigramMatch> out;
    scan(impl_->trie, reinterpret_cast<const uint8_t*>(text.data()),
         static_cast<int64_t>(text.size()), order,
         [&](int64_t e, const Candidates& c) {
             for (int k = 0; k < c.n; ++k) out.push_back({c.start[k], e, c.id[k]});
         });
    return out;
}

// Viterbi decoding (SPEC.md 6.c, alpha < 0): S[e] = max over matches (s, e, v) of S[s] + v,
// keeping the first maximiser met.
std::vector<int64_t> UnigramTokenizer::encode(const std::string& text) const {
    const int64_t l = static_cast<int64_t>(text.size());
    Lattice& lat = lattice();
    lat.reset(l);
    double* z = lat.z.data();
    int64_t* back = lat.back.data();
    int32_t* bid = lat.bid.data();
    const double* logp = impl_->logp.data();
    scan(impl_->trie, reinterpret_cast<const uint8_t*>(text.data()), l,
         CandidateOrder::longest_first, [&](int64_t e, const Candidates& c) {
             for (int k = 0; k < c.n; ++k) {
                 const double sc = z[c.start[k]] + logp[c.id[k]];  // -inf stays -inf, never wins
                 if (sc > z[e]) {
                     z[e] = sc;
                     back[e] = c.start[k];
                     bid[e] = c.id[k];
                 }
             }
         });
    return backtrack(lat, l);
}

std::vector<int64_t> UnigramTokenizer::sample(const std::string& text, double alpha,
                                              Generator& gen) const {
    return sample(text, alpha, gen, UnigramSampleOptions{});
}

std::vector<int64_t> UnigramTokenizer::sample(const std::string& text, double alpha, Generator& gen,
                                              const UnigramSampleOptions& opt) const {
    RFLOW_CHECK(!std::isnan(alpha) && alpha != std::numeric_limits<double>::infinity(),
                "alpha must be finite (or negative for Viterbi decoding), got " << alpha);
    if (alpha < 0) return encode(text);
    const int64_t l = static_cast<int64_t>(text.size());
    Lattice& lat = lattice();
    lat.reset(l);
    double* z = lat.z.data();
    int64_t* back = lat.back.data();
    int32_t* bid = lat.bid.data();
    const double* logp = impl_->logp.data();
    const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
    Uniforms u(gen);
    if (opt.rule == SamplingRule::exact) {
        // Article 9811, per candidate (s, e, v) in arrival order: sc = Z[s] + alpha v,
        // Z[e] <- logsumexp(Z[e], sc), and the candidate replaces the kept one with probability
        // exp(sc - Z[e]) (weighted reservoir sampling). Z[s] is final when (s, e) arrives (all
        // matches ending at s came earlier), so the kept start at e has probability
        // Z(s) e^{alpha v} / Z(e), and by induction the path has probability P(w)^alpha / Z(l).
        // The running logsumexp over one end's candidates is kept as Z[e] = r + log W with
        // W = sum exp(sc_i - r) in linear space (r: first candidate's score, rebased when a later
        // one is e^600 times larger), so each candidate costs one exp and the test
        // u < exp(sc - Z[e]) reads u W < w; one log per end position.
        scan(impl_->trie, bytes, l, opt.order, [&](int64_t e, const Candidates& c) {
            double r = kNegInf, w_sum = 0.0;
            for (int k = 0; k < c.n; ++k) {
                const int64_t s = c.start[k];
                if (z[s] == kNegInf) continue;  // no segmentation reaches s
                const double sc = z[s] + alpha * logp[c.id[k]];
                if (r == kNegInf) {  // first candidate: accepted with probability 1, no draw
                    r = sc;
                    w_sum = 1.0;
                    back[e] = s;
                    bid[e] = c.id[k];
                    continue;
                }
                double w;
                if (sc - r <= 600.0) {
                    w = std::exp(sc - r);
                } else {
                    w_sum *= std::exp(r - sc);
                    r = sc;
                    w = 1.0;
                }
                w_sum += w;
                if (u.next() * w_sum < w) {
                    back[e] = s;
                    bid[e] = c.id[k];
                }
            }
            if (r != kNegInf) z[e] = r + std::log(w_sum);
        });
    } else {
        // Article 9768 (biased): sc = S[s] + v, accept iff u < sigmoid(alpha (sc - S[e])); on
        // accept S[e] = sc.
        scan(impl_->trie, bytes, l, opt.order, [&](int64_t e, const Candidates& c) {
            for (int k = 0; k < c.n; ++k) {
                const int64_t s = c.start[k];
                if (z[s] == kNegInf) continue;
                const double sc = z[s] + logp[c.id[k]];
                if (z[e] == kNegInf || u.next() < 1.0 / (1.0 + std::exp(-alpha * (sc - z[e])))) {
                    z[e] = sc;
                    back[e] = s;
                    bid[e] = c.id[k];
                }
            }
        });
    }
    return backtrack(lat, l);
}

void UnigramTokenizer::save(const std::string& path) const {
    // One piece per line, so a vocabulary file reads (and diffs) well.
    std::string out = "{\"format\": \"rflow.unigram\", \"version\": 1, \"pieces\": [\n";
    for (size_t i = 0; i < impl_->pieces.size(); ++i) {
        const std::string& p = impl_->pieces[i];
        nlohmann::ordered_json j = nlohmann::ordered_json::object();  // "piece" before "logp"
        if (valid_utf8(p))
            j["piece"] = p;
        else
            j["hex"] = to_hex(p);
        j["logp"] = impl_->logp[i];
        out += j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
        out += i + 1 < impl_->pieces.size() ? ",\n" : "\n";
    }
    out += "]}\n";
    io::write_file_atomic(path, out.data(), out.size());
}

UnigramTokenizer UnigramTokenizer::load(const std::string& path) {
    const std::vector<uint8_t> bytes = io::read_file(path);
    const nlohmann::json j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
    RFLOW_CHECK(!j.is_discarded(), path << ": not a valid JSON document");
    RFLOW_CHECK(j.is_object(), path << ": expected a JSON object at the top level");
    const auto fmt = j.find("format");
    RFLOW_CHECK(fmt != j.end() && fmt->is_string() && *fmt == "rflow.unigram",
                path << ": key 'format' must be \"rflow.unigram\"");
    const auto ver = j.find("version");
    RFLOW_CHECK(ver != j.end() && ver->is_number_integer() && *ver == 1,
                path << ": key 'version' must be 1 (the only version this build reads)");
    const auto arr = j.find("pieces");
    RFLOW_CHECK(arr != j.end() && arr->is_array(), path << ": key 'pieces' must be an array");
    std::vector<std::pair<std::string, double>> v;
    v.reserve(arr->size());
    for (size_t i = 0; i < arr->size(); ++i) {
        const nlohmann::json& e = (*arr)[i];
        const std::string key = "pieces[" + std::to_string(i) + "]";
        RFLOW_CHECK(e.is_object(), path << ": " << key << " must be an object");
        const auto p = e.find("piece"), h = e.find("hex"), lp = e.find("logp");
        RFLOW_CHECK((p != e.end()) != (h != e.end()),
                    path << ": " << key << " needs exactly one of 'piece' and 'hex'");
        std::string bytes_of;
        if (p != e.end()) {
            RFLOW_CHECK(p->is_string(), path << ": " << key << ".piece must be a string");
            bytes_of = p->get<std::string>();
        } else {
            RFLOW_CHECK(h->is_string(), path << ": " << key << ".hex must be a string");
            const std::string& hx = h->get_ref<const std::string&>();
            RFLOW_CHECK(hx.size() % 2 == 0, path << ": " << key << ".hex has odd length");
            for (size_t k = 0; k < hx.size(); k += 2) {
                const int a = hex_digit(hx[k]), b = hex_digit(hx[k + 1]);
                RFLOW_CHECK(a >= 0 && b >= 0,
                            path << ": " << key << ".hex has a non-hex character");
                bytes_of += static_cast<char>(a * 16 + b);
            }
        }
        RFLOW_CHECK(lp != e.end() && lp->is_number(),
                    path << ": " << key << ".logp must be a number");
        v.emplace_back(std::move(bytes_of), lp->get<double>());
    }
    return UnigramTokenizer(make_impl(std::move(v), path + ": "));
}

}  // namespace rflow::data

// Byte-level unigram tokenizer: the checkable properties of SPEC.md 6.f (old vs exact Viterbi
// sampler, exactness against brute-force enumeration of all segmentations, alpha limits, candidate
// order), Viterbi = brute-force argmax, byte round trips, save/load, training, and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <unistd.h>

#include <rflow/data/tokenizer.hpp>
#include <rflow/device.hpp>
#include <rflow/error.hpp>
#include <rflow/philox.hpp>

using namespace rflow;
using namespace rflow::data;
namespace fs = std::filesystem;

namespace {

using Seg = std::vector<int64_t>;

std::string temp_path(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("rflow_test_tokenizer_" + std::to_string(getpid()));
    fs::create_directories(dir);
    return (dir / name).string();
}

void write_text(const std::string& path, const std::string& s) {
    std::ofstream(path, std::ios::binary) << s;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const rflow::Error& e) {
        return e.what();
    }
    return "(no error)";
}

// Every segmentation of text[pos..] into vocabulary pieces, by brute force.
void enumerate(const UnigramTokenizer& tok, const std::string& text, size_t pos, Seg& cur,
               std::vector<Seg>& out) {
    if (pos == text.size()) {
        out.push_back(cur);
        return;
    }
    for (size_t len = 1; pos + len <= text.size(); ++len) {
        const int64_t id = tok.piece_id(std::string_view(text).substr(pos, len));
        if (id < 0) continue;
        cur.push_back(id);
        enumerate(tok, text, pos + len, cur, out);
        cur.pop_back();
    }
}

std::vector<Seg> all_segmentations(const UnigramTokenizer& tok, const std::string& text) {
    std::vector<Seg> out;
    Seg cur;
    enumerate(tok, text, 0, cur, out);
    return out;
}

double score(const UnigramTokenizer& tok, const Seg& s) {
    double v = 0;
    for (int64_t id : s) v += tok.log_prob(id);
    return v;
}

// Target distribution P(w)^alpha / sum over all segmentations.
std::vector<double> target(const UnigramTokenizer& tok, const std::vector<Seg>& segs, double alpha) {
    std::vector<double> lw(segs.size());
    double mx = -1e300;
    for (size_t i = 0; i < segs.size(); ++i) mx = std::max(mx, lw[i] = alpha * score(tok, segs[i]));
    std::vector<double> p(segs.size());
    double z = 0;
    for (size_t i = 0; i < segs.size(); ++i) z += p[i] = std::exp(lw[i] - mx);
    for (double& x : p) x /= z;
    return p;
}

// Empirical distribution of n draws of the sampler over the enumerated segmentations.
std::vector<double> empirical(const UnigramTokenizer& tok, const std::string& text,
                              const std::vector<Seg>& segs, double alpha, int n, uint64_t seed,
                              const UnigramSampleOptions& opt = {}) {
    std::map<Seg, size_t> index;
    for (size_t i = 0; i < segs.size(); ++i) index[segs[i]] = i;
    std::vector<double> h(segs.size(), 0.0);
    Generator gen(seed);
    int unknown = 0;
    for (int k = 0; k < n; ++k) {
        const auto it = index.find(tok.sample(text, alpha, gen, opt));
        if (it == index.end())
            ++unknown;
        else
            h[it->second] += 1.0 / n;
    }
    CHECK(unknown == 0);  // every draw is a segmentation of the text
    return h;
}

double tv(const std::vector<double>& p, const std::vector<double>& q) {
    double d = 0;
    for (size_t i = 0; i < p.size(); ++i) d += std::abs(p[i] - q[i]);
    return d / 2;
}

std::vector<double> iid_histogram(std::discrete_distribution<size_t>& d, size_t k, int n,
                                  std::mt19937_64& rng) {
    std::vector<double> h(k, 0.0);
    for (int i = 0; i < n; ++i) h[d(rng)] += 1.0 / n;
    return h;
}

// Sampling-noise level of the TV: over `reps` replicas of n i.i.d. draws from p itself, the mean
// plus 4 standard deviations of TV(p, histogram) (two_sample: TV(histogram, histogram')).
double noise_bound(const std::vector<double>& p, int n, uint64_t seed, bool two_sample = false,
                   int reps = 8) {
    std::mt19937_64 rng(seed);
    std::discrete_distribution<size_t> d(p.begin(), p.end());
    double s = 0, s2 = 0;
    for (int r = 0; r < reps; ++r) {
        const auto h = iid_histogram(d, p.size(), n, rng);
        const double t = two_sample ? tv(h, iid_histogram(d, p.size(), n, rng)) : tv(p, h);
        s += t;
        s2 += t * t;
    }
    const double mean = s / reps, var = std::max(0.0, s2 / reps - mean * mean) * reps / (reps - 1);
    return mean + 4 * std::sqrt(var);
}

// "abracadabraab" with random log-probabilities for all of its substrings of <= 4 bytes.
UnigramTokenizer abracadabra_vocab() {
    const std::string text = "abracadabraab";
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::map<std::string, double> v;
    for (size_t s = 0; s < text.size(); ++s)
        for (size_t len = 1; len <= 4 && s + len <= text.size(); ++len) v.emplace(text.substr(s, len), 0.0);
    // p = u / sum u with u uniform in (0, 1), as in the SPEC's toy port.
    std::vector<double> w;
    for (size_t i = 0; i < v.size(); ++i) w.push_back(1e-3 + u(rng));
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    std::vector<std::pair<std::string, double>> pieces;
    for (const auto& [p, unused] : v) pieces.emplace_back(p, std::log(w[pieces.size()] / total));
    return UnigramTokenizer(pieces);
}

std::vector<std::string> toy_corpus() {
    const std::vector<std::string> words = {"the", "cat", "sat", "on", "mat", "a", "dog", "ran",
                                            "to", "red", "blue", "house", "picture", "of"};
    std::mt19937_64 rng(3);
    std::vector<double> zipf;
    for (size_t i = 0; i < words.size(); ++i) zipf.push_back(1.0 / (i + 1));
    std::discrete_distribution<size_t> pick(zipf.begin(), zipf.end());
    std::vector<std::string> corpus;
    for (int s = 0; s < 400; ++s) {
        std::string line;
        const int len = 4 + static_cast<int>(rng() % 8);
        for (int w = 0; w < len; ++w) line += (w ? " " : "") + words[pick(rng)];
        corpus.push_back(line + ".");
    }
    return corpus;
}

}  // namespace

TEST_CASE("6.f.1: 'watching' with equal pieces: old rule 1/2, 1/4, 1/4; exact sampler 1/3 each") {
    const double lp = std::log(1.0 / 6);
    UnigramTokenizer tok({{"watch", lp}, {"ing", lp}, {"wat", lp}, {"ching", lp}, {"w", lp},
                          {"atching", lp}});
    const std::string text = "watching";
    const std::vector<Seg> segs = all_segmentations(tok, text);
    REQUIRE(segs.size() == 3);
    const int n = 60000;
    // Per-class standard deviation <= sqrt(0.25 / n) = 0.002; allow 5 sigma.
    const double tol = 5 * std::sqrt(0.25 / n);
    auto prob = [&](const std::vector<double>& h, const std::string& a) {
        for (size_t i = 0; i < segs.size(); ++i)
            if (tok.piece(segs[i][0]) == a) return h[i];
        return -1.0;
    };
    const UnigramSampleOptions old_rule{CandidateOrder::longest_first, SamplingRule::sigmoid_9768};
    const auto h_old = empirical(tok, text, segs, 0.1, n, 1, old_rule);
    CHECK(std::abs(prob(h_old, "watch") - 0.50) < tol);
    CHECK(std::abs(prob(h_old, "wat") - 0.25) < tol);
    CHECK(std::abs(prob(h_old, "w") - 0.25) < tol);
    for (CandidateOrder order : {CandidateOrder::longest_first, CandidateOrder::shortest_first}) {
        const auto h = empirical(tok, text, segs, 0.1, n, 2, {order, SamplingRule::exact});
        for (const char* a : {"watch", "wat", "w"}) CHECK(std::abs(prob(h, a) - 1.0 / 3) < tol);
    }
    // The old rule's bias follows the arrival order: shortest first favours w|atching instead.
    const auto h_old_rev = empirical(tok, text, segs, 0.1, n, 3,
                                     {CandidateOrder::shortest_first, SamplingRule::sigmoid_9768});
    CHECK(std::abs(prob(h_old_rev, "w") - 0.50) < tol);
}

TEST_CASE("6.f.2 and 6.f.5: exact sampler matches P(w)^alpha over all 2872 segmentations, in any order") {
    const UnigramTokenizer tok = abracadabra_vocab();
    const std::string text = "abracadabraab";
    const std::vector<Seg> segs = all_segmentations(tok, text);
    REQUIRE(segs.size() == 2872);
    const int n = 150000;
    for (double alpha : {1.0, 0.3}) {
        CAPTURE(alpha);
        const std::vector<double> p = target(tok, segs, alpha);
        const double noise = noise_bound(p, n, 11), noise2 = noise_bound(p, n, 12, true);
        const UnigramSampleOptions longest{CandidateOrder::longest_first, SamplingRule::exact};
        const UnigramSampleOptions shortest{CandidateOrder::shortest_first, SamplingRule::exact};
        const auto h_long = empirical(tok, text, segs, alpha, n, 21, longest);
        const auto h_short = empirical(tok, text, segs, alpha, n, 22, shortest);
        const auto h_old = empirical(tok, text, segs, alpha, n, 23,
                                     {CandidateOrder::longest_first, SamplingRule::sigmoid_9768});
        const auto h_old_rev = empirical(tok, text, segs, alpha, n, 24,
                                         {CandidateOrder::shortest_first, SamplingRule::sigmoid_9768});
        MESSAGE("alpha " << alpha << ": noise bound " << noise << ", exact " << tv(p, h_long)
                         << " (reversed order " << tv(p, h_short) << "), old rule " << tv(p, h_old)
                         << ", old rule longest vs shortest first " << tv(h_old, h_old_rev));
        // At noise level: within the spread of the TV of i.i.d. samples of the same size.
        CHECK(tv(p, h_long) < noise);
        CHECK(tv(p, h_short) < noise);
        CHECK(tv(h_long, h_short) < noise2);
        // The old rule is far from the target and changes with the order.
        CHECK(tv(p, h_old) > std::max(0.15, 4 * noise));
        CHECK(tv(h_old, h_old_rev) > std::max(0.15, 4 * noise2));
    }
}

TEST_CASE("6.f.3: large alpha concentrates on the Viterbi path; encode is the brute-force argmax") {
    const UnigramTokenizer tok = abracadabra_vocab();
    const std::string text = "abracadabraab";
    const std::vector<Seg> segs = all_segmentations(tok, text);
    size_t best = 0;
    for (size_t i = 0; i < segs.size(); ++i)
        if (score(tok, segs[i]) > score(tok, segs[best])) best = i;
    const Seg viterbi = tok.encode(text);
    CHECK(viterbi == segs[best]);
    Generator gen(5);
    int hits = 0;
    for (int k = 0; k < 2000; ++k) hits += tok.sample(text, 50.0, gen) == viterbi;
    CHECK(hits == 2000);
    // alpha < 0 is Viterbi decoding and draws nothing.
    const Generator before = gen;
    CHECK(tok.sample(text, -1.0, gen) == viterbi);
    CHECK(gen == before);
    // Every prefix and suffix too.
    for (size_t cut = 1; cut < text.size(); ++cut)
        for (const std::string& t : {text.substr(0, cut), text.substr(cut)}) {
            const std::vector<Seg> ss = all_segmentations(tok, t);
            double mx = -1e300;
            for (const Seg& s : ss) mx = std::max(mx, score(tok, s));
            CHECK(score(tok, tok.encode(t)) == doctest::Approx(mx).epsilon(1e-12));
        }
}

TEST_CASE("6.f.4: alpha = 0 samples uniformly over all segmentations") {
    const UnigramTokenizer tok = abracadabra_vocab();
    const std::string text = "abracadabraab";
    const std::vector<Seg> segs = all_segmentations(tok, text);
    const int n = 150000;
    const std::vector<double> uniform(segs.size(), 1.0 / segs.size());
    const double noise = noise_bound(uniform, n, 31);
    const auto h = empirical(tok, text, segs, 0.0, n, 33);
    MESSAGE("alpha 0: TV to uniform " << tv(uniform, h) << ", noise bound " << noise);
    CHECK(tv(uniform, h) < noise);
}

TEST_CASE("sampling is reproducible from the generator state and advances it") {
    const UnigramTokenizer tok = abracadabra_vocab();
    const std::string text = "abracadabraababracadabra";
    Generator a(99), b(99);
    std::vector<Seg> sa, sb;
    for (int k = 0; k < 50; ++k) sa.push_back(tok.sample(text, 0.2, a));
    for (int k = 0; k < 50; ++k) sb.push_back(tok.sample(text, 0.2, b));
    CHECK(sa == sb);
    CHECK(a == b);
    CHECK(a != Generator(99));
    int distinct = 0;
    for (int k = 1; k < 50; ++k) distinct += sa[k] != sa[0];
    CHECK(distinct > 10);
}

TEST_CASE("matches come in increasing end, in the requested order among equal ends") {
    const UnigramTokenizer tok = abracadabra_vocab();
    const std::string text = "abracadabra";
    const auto lf = tok.matches(text);
    const auto sf = tok.matches(text, CandidateOrder::shortest_first);
    REQUIRE(lf.size() == sf.size());
    for (size_t i = 0; i < lf.size(); ++i) {
        CHECK(text.substr(lf[i].start, lf[i].end - lf[i].start) == tok.piece(lf[i].id));
        if (i > 0) {
            CHECK(lf[i].end >= lf[i - 1].end);
            if (lf[i].end == lf[i - 1].end) CHECK(lf[i].start > lf[i - 1].start);
            if (sf[i].end == sf[i - 1].end) CHECK(sf[i].start < sf[i - 1].start);
        }
    }
    // All substrings of <= 4 bytes: 4 per end position, fewer at the first three.
    CHECK(lf.size() == 4 * text.size() - 6);
}

TEST_CASE("training: requested size, all bytes, frequent words are single tokens; byte round trips") {
    UnigramTrainOptions opt;
    opt.vocab_size = 256 + 40;
    opt.max_token_bytes = 8;
    const UnigramTokenizer tok = UnigramTokenizer::train(toy_corpus(), opt);
    CHECK(tok.vocab_size() == opt.vocab_size);
    for (int c = 0; c < 256; ++c) CHECK(tok.piece(c) == std::string(1, static_cast<char>(c)));
    for (const char* w : {" the", " cat", " sat", " on", " dog", " house", " picture"}) {
        CAPTURE(w);
        CHECK(tok.encode(w).size() == 1);
    }
    // No piece spans two words (whitespace never follows a non-whitespace byte inside a piece).
    for (int64_t i = 256; i < tok.vocab_size(); ++i) {
        const std::string& p = tok.piece(i);
        for (size_t k = 1; k < p.size(); ++k) CHECK_FALSE((p[k] == ' ' && p[k - 1] != ' '));
    }
    // Encoding of a sentence is shorter than its bytes; decode restores it.
    const std::string s = "the cat sat on the red mat.";
    CHECK(tok.encode(s).size() < s.size() / 2);
    CHECK(tok.decode(tok.encode(s)) == s);
    // Arbitrary bytes, UTF-8, 0x00 and 0xFF: decode(encode(x)) == x, and for samples too.
    std::mt19937_64 rng(17);
    Generator gen(4);
    std::vector<std::string> texts = {"", std::string("\0\xff\0", 3), "caf\xc3\xa9 \xe2\x82\xac 100",
                                      "\xf0\x9f\x98\x80 the dog", std::string(300, '\xff')};
    for (int k = 0; k < 50; ++k) {
        std::string t(rng() % 64, '\0');
        for (char& c : t) c = static_cast<char>(rng() & 255);
        texts.push_back(t);
    }
    for (const std::string& t : texts) {
        CHECK(tok.decode(tok.encode(t)) == t);
        CHECK(tok.decode(tok.sample(t, 0.1, gen)) == t);
        CHECK(tok.decode(tok.sample(t, 0.0, gen)) == t);
    }
    // The trie finds exactly the vocabulary substrings, and encode is the brute-force argmax.
    for (int k = 0; k < 30; ++k) {
        const std::string t = k % 2 ? texts[5 + k] : s.substr(k % 10, 12);
        size_t count = 0;
        for (size_t a = 0; a < t.size(); ++a)
            for (size_t b = a + 1; b <= t.size(); ++b) count += tok.piece_id(t.substr(a, b - a)) >= 0;
        const auto ms = tok.matches(t);
        CHECK(ms.size() == count);
        for (const UnigramMatch& m : ms) CHECK(t.substr(m.start, m.end - m.start) == tok.piece(m.id));
        if (t.size() <= 14) {
            double mx = -1e300;
            for (const Seg& seg : all_segmentations(tok, t)) mx = std::max(mx, score(tok, seg));
            CHECK(score(tok, tok.encode(t)) == doctest::Approx(mx).epsilon(1e-12));
        }
    }
}

TEST_CASE("training is deterministic and independent of the thread count") {
    UnigramTrainOptions opt;
    opt.vocab_size = 256 + 60;
    const int before = num_threads();
    set_num_threads(1);
    const UnigramTokenizer one = UnigramTokenizer::train(toy_corpus(), opt);
    set_num_threads(2);
    const UnigramTokenizer two = UnigramTokenizer::train(toy_corpus(), opt);
    set_num_threads(before);
    REQUIRE(one.vocab_size() == two.vocab_size());
    for (int64_t i = 0; i < one.vocab_size(); ++i) {
        CHECK(one.piece(i) == two.piece(i));
        CHECK(one.log_prob(i) == two.log_prob(i));
    }
}

TEST_CASE("save then load reproduces pieces, log-probabilities and encodings") {
    UnigramTrainOptions opt;
    opt.vocab_size = 300;
    const UnigramTokenizer tok = UnigramTokenizer::train(toy_corpus(), opt);
    const std::string path = temp_path("vocab.json");
    tok.save(path);
    const UnigramTokenizer back = UnigramTokenizer::load(path);
    REQUIRE(back.vocab_size() == tok.vocab_size());
    for (int64_t i = 0; i < tok.vocab_size(); ++i) {
        CHECK(back.piece(i) == tok.piece(i));
        CHECK(back.log_prob(i) == tok.log_prob(i));  // bit for bit
    }
    for (const std::string& t : {std::string("the picture of a red house."), std::string("\xff\xfe ok")})
        CHECK(back.encode(t) == tok.encode(t));
    // Pieces that are not UTF-8 go through "hex".
    UnigramTokenizer odd({{std::string("\xff\x00", 2), -1.0}, {"\xc3\xa9", -2.0}, {"\"q\\", -3.0}});
    odd.save(path);
    const UnigramTokenizer odd_back = UnigramTokenizer::load(path);
    CHECK(odd_back.piece(0) == std::string("\xff\x00", 2));
    CHECK(odd_back.piece(1) == "\xc3\xa9");
    CHECK(odd_back.piece(2) == "\"q\\");
    fs::remove_all(fs::path(path).parent_path());
}

TEST_CASE("clear errors: bad files name the path and key; unknown ids; unsegmentable text") {
    const std::string path = temp_path("bad.json");
    write_text(path, "{not json");
    std::string e = error_of([&] { UnigramTokenizer::load(path); });
    CHECK(e.find(path) != std::string::npos);
    CHECK(e.find("not a valid JSON") != std::string::npos);
    write_text(path, R"({"format": "rflow.unigram", "version": 1})");
    e = error_of([&] { UnigramTokenizer::load(path); });
    CHECK(e.find("'pieces'") != std::string::npos);
    write_text(path, R"({"format": "rflow.unigram", "version": 1, "pieces": [{"piece": "a", "logp": -1}, {"piece": "b", "logp": "x"}]})");
    e = error_of([&] { UnigramTokenizer::load(path); });
    CHECK(e.find("pieces[1].logp") != std::string::npos);
    write_text(path, R"({"format": "rflow.unigram", "version": 1, "pieces": [{"piece": "a", "logp": -1}, {"piece": "a", "logp": -2}]})");
    e = error_of([&] { UnigramTokenizer::load(path); });
    CHECK(e.find("pieces[1] duplicates pieces[0]") != std::string::npos);
    write_text(path, R"({"format": "rflow.unigram", "version": 1, "pieces": [{"hex": "f", "logp": -1}]})");
    CHECK(error_of([&] { UnigramTokenizer::load(path); }).find("pieces[0].hex") != std::string::npos);
    write_text(path, R"({"format": "other", "version": 1, "pieces": []})");
    CHECK(error_of([&] { UnigramTokenizer::load(path); }).find("'format'") != std::string::npos);
    CHECK(error_of([&] { UnigramTokenizer::load(path + ".missing"); }).find(path + ".missing") !=
          std::string::npos);
    fs::remove_all(fs::path(path).parent_path());

    UnigramTokenizer tok({{"a", -1.0}, {"b", -1.0}, {"ab", -1.5}});
    CHECK(error_of([&] { tok.decode({0, 7}); }).find("unknown token id 7") != std::string::npos);
    CHECK(error_of([&] { tok.piece(-1); }).find("unknown token id -1") != std::string::npos);
    CHECK(error_of([&] { tok.encode("abc"); }).find("no segmentation") != std::string::npos);
    Generator gen(1);
    CHECK(error_of([&] { tok.sample("abxa", 0.5, gen); }).find("ends at byte 2") != std::string::npos);
    CHECK(error_of([&] { tok.sample("ab", INFINITY, gen); }).find("alpha must be finite") !=
          std::string::npos);
    CHECK(error_of([&] { UnigramTokenizer({{"a", -1.0}, {"", -1.0}}); }).find("pieces[1] is empty") !=
          std::string::npos);
    CHECK(error_of([&] { UnigramTokenizer({{"a", NAN}}); }).find("finite") != std::string::npos);
    UnigramTrainOptions opt;
    opt.vocab_size = 100;
    CHECK(error_of([&] { UnigramTokenizer::train({"abc"}, opt); }).find("vocab_size") != std::string::npos);
    CHECK(error_of([&] { UnigramTokenizer::train({}, {}); }).find("empty") != std::string::npos);
}

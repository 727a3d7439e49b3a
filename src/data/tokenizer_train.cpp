// Training of the byte-level unigram tokenizer (SentencePiece's unigram trainer, on bytes):
//   1. seed vocabulary: all 256 bytes plus the frequent substrings of 2..max_token_bytes bytes,
//      counted level by level (apriori: an L-gram is counted only where both of its (L-1)-grams are
//      frequent), best seed_size by count x length;
//   2. EM: the E-step computes expected piece counts over *all* segmentations by forward-backward
//      in log space, the M-step sets log p from the counts (digamma prior or maximum likelihood);
//   3. pruning rounds: drop the prune_fraction of multi-byte pieces whose removal loses the least
//      likelihood, re-run EM, until 10% more than wanted are left, then keep the most probable;
//      single bytes are never dropped.
// E-steps run on rflow::num_threads() threads over 64 fixed chunks of the corpus, summed in chunk
// order, so the result does not depend on the number of threads.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "data/unigram_trie.hpp"
#include "rflow/data/tokenizer.hpp"
#include "rflow/device.hpp"
#include "rflow/error.hpp"

namespace rflow::data {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr int kChunks = 64;

bool is_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// psi(x) for x > 0: recurrence psi(x) = psi(x + 1) - 1/x up to x >= 6, then the asymptotic series.
double digamma(double x) {
    double r = 0.0;
    while (x < 6.0) {
        r -= 1.0 / x;
        x += 1.0;
    }
    const double f = 1.0 / (x * x);
    return r + std::log(x) - 0.5 / x -
           f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

struct Candidate {
    std::string piece;
    int64_t count;
};

// Step 1. Frequent substrings of 2..max_len bytes that occur >= min_count times, at most `keep`
// per length (the most frequent). ids[pos] names the frequent (L-1)-gram starting at pos (-1:
// none, or it would cross the end of its document).
std::vector<Candidate> frequent_substrings(const std::vector<std::string>& corpus, int64_t max_len,
                                           int64_t min_count, int64_t keep, bool cross_space) {
    std::string text;
    std::vector<int32_t> ids;
    for (const std::string& d : corpus) {
        text += d;
        for (unsigned char c : d) ids.push_back(c);
        text += '\0';
        ids.push_back(-1);  // separator: no gram runs over it
    }
    const auto* t = reinterpret_cast<const uint8_t*>(text.data());
    const int64_t n = static_cast<int64_t>(text.size());
    std::vector<std::string> prev(256);  // strings of the (L-1)-gram ids
    for (int c = 0; c < 256; ++c) prev[c] = std::string(1, static_cast<char>(c));
    std::vector<Candidate> out;
    std::unordered_map<uint64_t, int64_t> counts;
    for (int64_t len = 2; len <= max_len; ++len) {
        // The L-gram at pos is (L-1)-gram ids[pos] followed by byte t[pos + L - 1]; it exists when
        // the (L-1)-gram at pos + 1 (its suffix) is frequent too.
        counts.clear();
        for (int64_t pos = 0; pos + len <= n; ++pos) {
            if (ids[pos] < 0 || ids[pos + 1] < 0) continue;
            const uint8_t last = t[pos + len - 1], before = t[pos + len - 2];
            if (!cross_space && is_space(last) && !is_space(before)) continue;
            ++counts[(static_cast<uint64_t>(ids[pos]) << 8) | last];
        }
        std::vector<std::pair<int64_t, uint64_t>> freq;  // (count, key)
        for (const auto& [key, c] : counts)
            if (c >= min_count) freq.emplace_back(c, key);
        if (freq.empty()) break;
        // Most frequent first; ties by key, for a result independent of hash order.
        std::sort(freq.begin(), freq.end(), [](const auto& a, const auto& b) {
            return a.first != b.first ? a.first > b.first : a.second < b.second;
        });
        if (static_cast<int64_t>(freq.size()) > keep) freq.resize(static_cast<size_t>(keep));
        std::unordered_map<uint64_t, int32_t> next_id;
        std::vector<std::string> cur;
        for (const auto& [c, key] : freq) {
            next_id.emplace(key, static_cast<int32_t>(cur.size()));
            cur.push_back(prev[key >> 8] + static_cast<char>(key & 255));
            out.push_back({cur.back(), c});
        }
        for (int64_t pos = 0; pos < n; ++pos) {
            int32_t id = -1;
            if (pos + len <= n && ids[pos] >= 0 && ids[pos + 1] >= 0) {
                const auto it = next_id.find((static_cast<uint64_t>(ids[pos]) << 8) | t[pos + len - 1]);
                if (it != next_id.end()) id = it->second;
            }
            ids[pos] = id;  // ids[pos + 1], read above, is overwritten only at the next pos
        }
        prev = std::move(cur);
    }
    return out;
}

// One document's E-step. Forward, per end e: alpha[e] = logsumexp over matches (s, e, v) of
// alpha[s] + v (max-shifted: one exp per match, one log per position). Backward without beta:
// gamma[e] = P(a token boundary at e) = exp(alpha[e] + beta[e] - log Z) lies in [0, 1], and the
// posterior of a match is exp(alpha[s] + v - alpha[e]) gamma[e] (the exponent is <= 0), which is
// added to the piece's count and to gamma[s]; gamma[l] = 1. Matches are visited in decreasing e,
// so gamma[e] is complete when read. Returns log Z = alpha[l], the document's log-likelihood.
struct Match {
    int32_t s, e, id;
};
double forward_backward(const detail::ReverseTrie& trie, const std::vector<double>& logp,
                        const std::string& doc, std::vector<Match>& m, std::vector<double>& a,
                        std::vector<double>& g, std::vector<double>& counts) {
    const auto* t = reinterpret_cast<const uint8_t*>(doc.data());
    const int64_t l = static_cast<int64_t>(doc.size());
    m.clear();
    a.assign(static_cast<size_t>(l + 1), kNegInf);
    a[0] = 0.0;
    for (int64_t e = 1; e <= l; ++e) {
        const size_t first = m.size();
        double mx = kNegInf;
        trie.for_each_ending_at(t, e, [&](int64_t s, int32_t id) {
            m.push_back({static_cast<int32_t>(s), static_cast<int32_t>(e), id});
            mx = std::max(mx, a[static_cast<size_t>(s)] + logp[static_cast<size_t>(id)]);
        });
        if (mx == kNegInf) continue;
        double sum = 0.0;
        for (size_t k = first; k < m.size(); ++k) sum += std::exp(a[m[k].s] + logp[m[k].id] - mx);
        a[static_cast<size_t>(e)] = mx + std::log(sum);
    }
    g.assign(static_cast<size_t>(l + 1), 0.0);
    g[static_cast<size_t>(l)] = 1.0;
    for (size_t k = m.size(); k-- > 0;) {
        const Match& x = m[k];
        if (g[x.e] == 0.0 || a[x.s] == kNegInf) continue;
        const double post = std::exp(a[x.s] + logp[x.id] - a[x.e]) * g[x.e];
        counts[x.id] += post;
        g[x.s] += post;
    }
    return a[static_cast<size_t>(l)];
}

// Expected counts of every piece over the corpus (fixed chunks, summed in chunk order).
std::vector<double> e_step(const std::vector<std::string>& pieces, const std::vector<double>& logp,
                           const std::vector<std::string>& corpus,
                           const std::vector<size_t>& chunk_begin) {
    detail::ReverseTrie trie;
    trie.build(pieces);
    const int chunks = static_cast<int>(chunk_begin.size()) - 1;
    std::vector<std::vector<double>> part(static_cast<size_t>(chunks));
#if defined(_OPENMP)
#pragma omp parallel for num_threads(std::max(1, num_threads())) schedule(dynamic, 1)
#endif
    for (int c = 0; c < chunks; ++c) {
        std::vector<Match> m;
        std::vector<double> a, b;
        part[c].assign(pieces.size(), 0.0);
        for (size_t d = chunk_begin[c]; d < chunk_begin[c + 1]; ++d)
            if (!corpus[d].empty()) forward_backward(trie, logp, corpus[d], m, a, b, part[c]);
    }
    std::vector<double> counts(pieces.size(), 0.0);
    for (int c = 0; c < chunks; ++c)
        for (size_t i = 0; i < counts.size(); ++i) counts[i] += part[c][i];
    return counts;
}

// M-step: log p from expected counts; counts are floored at 0.5 so unseen pieces (single bytes
// absent from the corpus, or pieces about to be pruned) keep a finite log-probability.
std::vector<double> m_step(const std::vector<double>& counts, bool digamma_prior) {
    std::vector<double> c(counts.size());
    for (size_t i = 0; i < c.size(); ++i) c[i] = std::max(counts[i], 0.5);
    const double total = std::accumulate(c.begin(), c.end(), 0.0);
    std::vector<double> logp(c.size());
    for (size_t i = 0; i < c.size(); ++i)
        logp[i] = digamma_prior ? digamma(c[i]) - digamma(total) : std::log(c[i] / total);
    return logp;
}

// Pruning loss of piece i (multi-byte): F_i (log p_i - sum of log p over alt_i), where F_i is its
// expected count and alt_i the best segmentation of the piece's own bytes without the piece
// itself: the log-likelihood lost if its occurrences were re-segmented as alt_i (normalisation
// changes ignored, as in SentencePiece's approximation).
std::vector<double> pruning_loss(const std::vector<std::string>& pieces,
                                 const std::vector<double>& logp,
                                 const std::vector<double>& counts) {
    detail::ReverseTrie trie;
    trie.build(pieces);
    std::vector<double> loss(pieces.size(), std::numeric_limits<double>::infinity());
    std::vector<double> best;
    for (size_t i = 256; i < pieces.size(); ++i) {
        const auto* t = reinterpret_cast<const uint8_t*>(pieces[i].data());
        const int64_t l = static_cast<int64_t>(pieces[i].size());
        best.assign(static_cast<size_t>(l + 1), kNegInf);
        best[0] = 0.0;
        for (int64_t e = 1; e <= l; ++e)
            trie.for_each_ending_at(t, e, [&](int64_t s, int32_t id) {
                if (static_cast<size_t>(id) == i) return;  // the piece itself
                best[e] = std::max(best[e], best[s] + logp[id]);
            });
        loss[i] = counts[i] * (logp[i] - best[static_cast<size_t>(l)]);
    }
    return loss;
}

// Keeps the single bytes and the `keep` multi-byte pieces with the largest key (ties: smaller
// piece), in their current order.
void keep_pieces(std::vector<std::string>& pieces, std::vector<double>& logp,
                 const std::vector<double>& key, int64_t keep) {
    std::vector<size_t> order(pieces.size() - 256);
    std::iota(order.begin(), order.end(), size_t{256});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return key[a] != key[b] ? key[a] > key[b] : pieces[a] < pieces[b];
    });
    if (static_cast<int64_t>(order.size()) > keep) order.resize(static_cast<size_t>(keep));
    std::sort(order.begin(), order.end());
    std::vector<std::string> kept_p(pieces.begin(), pieces.begin() + 256);
    std::vector<double> kept_lp(logp.begin(), logp.begin() + 256);
    for (size_t i : order) {
        kept_p.push_back(std::move(pieces[i]));
        kept_lp.push_back(logp[i]);
    }
    pieces = std::move(kept_p);
    logp = std::move(kept_lp);
}

}  // namespace

UnigramTokenizer UnigramTokenizer::train(const std::vector<std::string>& corpus,
                                         const UnigramTrainOptions& opt) {
    RFLOW_CHECK(opt.vocab_size >= 256,
                "vocab_size " << opt.vocab_size << " < 256: every single byte is a piece");
    RFLOW_CHECK(opt.max_token_bytes >= 1 && opt.max_token_bytes <= 1024,
                "max_token_bytes " << opt.max_token_bytes << " is outside [1, 1024]");
    RFLOW_CHECK(opt.em_iterations >= 1, "em_iterations " << opt.em_iterations << " < 1");
    RFLOW_CHECK(opt.prune_fraction > 0 && opt.prune_fraction < 1,
                "prune_fraction " << opt.prune_fraction << " is outside (0, 1)");
    RFLOW_CHECK(opt.seed_size >= 0, "seed_size " << opt.seed_size << " < 0");
    RFLOW_CHECK(opt.min_count >= 1, "min_count " << opt.min_count << " < 1");
    size_t total_bytes = 0;
    for (const std::string& d : corpus) {
        RFLOW_CHECK(d.size() < (size_t{1} << 31), "a corpus string has " << d.size()
                                                   << " bytes; split it below 2^31");
        total_bytes += d.size();
    }
    RFLOW_CHECK(total_bytes > 0, "the corpus is empty");

    // Seed: bytes (ids 0..255, id = byte value) then candidates by count x length.
    const int64_t seed_size = opt.seed_size > 0 ? opt.seed_size : 8 * opt.vocab_size;
    const int64_t multi = std::max<int64_t>(0, seed_size - 256);
    std::vector<Candidate> cand = frequent_substrings(corpus, opt.max_token_bytes, opt.min_count,
                                                      std::max<int64_t>(multi, 1),
                                                      opt.pieces_cross_whitespace);
    std::sort(cand.begin(), cand.end(), [](const Candidate& a, const Candidate& b) {
        const int64_t sa = a.count * static_cast<int64_t>(a.piece.size());
        const int64_t sb = b.count * static_cast<int64_t>(b.piece.size());
        return sa != sb ? sa > sb : a.piece < b.piece;
    });
    if (static_cast<int64_t>(cand.size()) > multi) cand.resize(static_cast<size_t>(multi));

    std::vector<std::string> pieces;
    std::vector<double> init;
    std::vector<double> byte_count(256, 0.0);
    for (const std::string& d : corpus)
        for (unsigned char c : d) byte_count[c] += 1.0;
    for (int c = 0; c < 256; ++c) {
        pieces.emplace_back(1, static_cast<char>(c));
        init.push_back(byte_count[c]);
    }
    for (const Candidate& c : cand) {
        pieces.push_back(c.piece);
        init.push_back(static_cast<double>(c.count) * static_cast<double>(c.piece.size()));
    }
    std::vector<double> logp = m_step(init, false);

    // Fixed chunks of about equal byte counts.
    const int chunks = static_cast<int>(std::min<size_t>(kChunks, corpus.size()));
    std::vector<size_t> chunk_begin{0};
    size_t acc = 0;
    for (size_t d = 0; d < corpus.size(); ++d) {
        acc += corpus[d].size();
        if (acc * static_cast<size_t>(chunks) >= total_bytes * chunk_begin.size() &&
            static_cast<int>(chunk_begin.size()) < chunks)
            chunk_begin.push_back(d + 1);
    }
    chunk_begin.push_back(corpus.size());

    // Prune to 10% more multi-byte pieces than wanted, then keep the most probable ones after the
    // last EM (SentencePiece's desired_vocab_size = 1.1 vocab_size and FinalizePieces): the last
    // EM steps push some survivors of the last round towards zero count, and the cut drops them.
    const int64_t want = opt.vocab_size - 256;
    const int64_t target = static_cast<int64_t>(std::ceil(1.1 * static_cast<double>(want)));
    while (true) {
        std::vector<double> counts;
        for (int it = 0; it < opt.em_iterations; ++it) {
            counts = e_step(pieces, logp, corpus, chunk_begin);
            logp = m_step(counts, opt.digamma_prior);
        }
        const int64_t cur_multi = static_cast<int64_t>(pieces.size()) - 256;
        if (cur_multi <= target) break;
        // Prune: keep the multi-byte pieces with the largest loss.
        const std::vector<double> loss = pruning_loss(pieces, logp, counts);
        const int64_t keep = std::max<int64_t>(
            target, static_cast<int64_t>(std::floor(static_cast<double>(cur_multi) *
                                                    (1.0 - opt.prune_fraction))));
        keep_pieces(pieces, logp, loss, keep);
    }
    if (static_cast<int64_t>(pieces.size()) - 256 > want) keep_pieces(pieces, logp, logp, want);

    // Bytes keep ids 0..255; multi-byte pieces follow, most probable first.
    std::vector<size_t> order(pieces.size() - 256);
    std::iota(order.begin(), order.end(), size_t{256});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return logp[a] != logp[b] ? logp[a] > logp[b] : pieces[a] < pieces[b];
    });
    std::vector<std::pair<std::string, double>> vocab;
    vocab.reserve(pieces.size());
    for (size_t i = 0; i < 256; ++i) vocab.emplace_back(pieces[i], logp[i]);
    for (size_t i : order) vocab.emplace_back(pieces[i], logp[i]);
    return UnigramTokenizer(std::move(vocab));
}

}  // namespace rflow::data

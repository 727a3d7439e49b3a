// Byte-level unigram tokenizer (BytePiece-style, SPEC.md section 6): a vocabulary of byte strings
// with log-probabilities, Viterbi decoding, and the exact "Viterbi sampler" of article 9811 that
// draws a segmentation w of a text with probability exactly P(w)^alpha / sum_w' P(w')^alpha at the
// cost of one Viterbi pass. Training is EM over all segmentations with loss-based pruning
// (SentencePiece's unigram trainer, on bytes). Vocabularies are saved and loaded as JSON.
//
// Conventions:
//   - Text is a sequence of arbitrary bytes (UTF-8 or not; 0x00 and 0xFF are ordinary bytes).
//     Pieces are non-empty byte strings; ids are their positions in the vocabulary, 0-based.
//   - A trained vocabulary holds all 256 single bytes, so every text encodes. A vocabulary given
//     explicitly holds exactly the pieces given (tests use small ones); a text it cannot segment is
//     an rflow::Error.
//   - Candidate tokens (matches) are enumerated in increasing end position; among matches with the
//     same end, longest first (BytePiece's automaton order) unless CandidateOrder says otherwise.
//     The exact sampler's distribution does not depend on that order; the old rule's does.
//   - Sampling draws its uniforms from rflow::Generator: the same (text, alpha, generator state)
//     gives the same segmentation on any machine, and the generator advances past what it used.
//
// JSON file format (version 1), ids are array positions:
//   {"format": "rflow.unigram", "version": 1,
//    "pieces": [{"piece": "the", "logp": -4.25}, {"hex": "ff", "logp": -12.5}, ...]}
// A piece that is valid UTF-8 is stored as "piece" (a JSON string), any other as "hex" (lowercase
// hex digits of its bytes). Log-probabilities are written with 17 significant digits, so save then
// load reproduces them bit for bit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rflow/export.hpp"

namespace rflow {
class Generator;
}

namespace rflow::data {

/// Options of UnigramTokenizer::train (SentencePiece unigram trainer, on bytes).
struct UnigramTrainOptions {
    /// Final vocabulary size, single bytes included (256 + 3840 multi-byte pieces by default).
    /// The result has fewer pieces only when the corpus has fewer candidate substrings.
    int64_t vocab_size = 256 + 3840;
    /// Longest piece, in bytes (>= 1).
    int64_t max_token_bytes = 16;
    /// EM steps (E: expected piece counts by forward-backward over all segmentations; M: new
    /// log-probabilities) after seeding, after each pruning round, and at the end.
    int em_iterations = 2;
    /// Each pruning round removes this fraction of the current multi-byte pieces (those whose
    /// removal loses the least likelihood), but never goes below vocab_size. In (0, 1).
    double prune_fraction = 0.25;
    /// Seed vocabulary size before pruning, single bytes included; 0 means 8 * vocab_size.
    int64_t seed_size = 0;
    /// A substring becomes a seed candidate only when it occurs at least this often (>= 1).
    int64_t min_count = 2;
    /// false: inside a piece, whitespace (space, \t, \n, \r, \v, \f) never follows a non-whitespace
    /// byte, so pieces are words with their leading spaces (" the"), or runs of whitespace, and
    /// never span two words. true: any substring may become a piece.
    bool pieces_cross_whitespace = false;
    /// M-step with SentencePiece's sparse Bayesian prior, log p = digamma(c) - digamma(sum c),
    /// which pushes rare pieces down (the probabilities then sum to a little less than 1);
    /// false: maximum likelihood, log p = log(c / sum c). Expected counts c are floored at 0.5.
    bool digamma_prior = true;
};

/// Order in which matches with the same end position reach the decision rule.
enum class CandidateOrder {
    longest_first,   ///< BytePiece's Aho-Corasick order (the default).
    shortest_first,  ///< The reverse; for tests that the exact sampler ignores the order.
};

/// Decision rule of the sampler (SPEC.md 6.b).
enum class SamplingRule {
    /// Article 9811: reservoir sampling on the running log-partition; exact.
    exact,
    /// Article 9768's original rule, accept iff u < sigmoid(alpha (score - best)). Biased (it
    /// dilutes early candidates); kept only so tests can show the difference.
    sigmoid_9768,
};

/// Options of UnigramTokenizer::sample beyond alpha.
struct UnigramSampleOptions {
    CandidateOrder order = CandidateOrder::longest_first;  ///< Order among equal ends.
    SamplingRule rule = SamplingRule::exact;               ///< Decision rule.
};

/// One vocabulary match in a text: text[start, end) is piece `id`.
struct UnigramMatch {
    int64_t start;
    int64_t end;
    int64_t id;
};

/// A byte-level unigram tokenizer. Immutable after construction; copies share the vocabulary, and
/// all const methods may be called from several threads at once.
class RFLOW_API UnigramTokenizer {
public:
    /// Trains on a corpus (each string a document or sentence; pieces never span two strings):
    /// seed vocabulary of frequent substrings, EM over segmentations, pruning down to
    /// opt.vocab_size. Every single byte stays in the vocabulary, so any text encodes.
    /// The result depends only on the corpus and the options (not on the thread count).
    static UnigramTokenizer train(const std::vector<std::string>& corpus,
                                  const UnigramTrainOptions& opt = {});

    /// Reads a vocabulary saved by save(); rflow::Error names the path and the offending key.
    static UnigramTokenizer load(const std::string& path);

    /// Writes the vocabulary as JSON (format above), atomically: temp file, fsync, rename.
    void save(const std::string& path) const;

    /// An explicit vocabulary: piece i gets id i and log-probability pieces_with_logprob[i].second.
    /// Pieces must be non-empty, distinct and at most 1024 bytes; log-probabilities finite (they
    /// need not be normalised). Single bytes are not added.
    explicit UnigramTokenizer(std::vector<std::pair<std::string, double>> pieces_with_logprob);

    /// The most probable segmentation (Viterbi): argmax_w sum_k log p(w_k). Ties go to the
    /// candidate met first (longest last token). Empty text gives no ids.
    std::vector<int64_t> encode(const std::string& text) const;

    /// A random segmentation w with probability P(w)^alpha / Z (exact; alpha = 0 is uniform over
    /// all segmentations; large alpha concentrates on the Viterbi path). alpha < 0 returns
    /// encode(text) and draws nothing; alpha = +inf or NaN is an error. Costs one Viterbi pass
    /// plus one exp and one 32-bit Philox word per candidate after the first at each position.
    std::vector<int64_t> sample(const std::string& text, double alpha, Generator& gen) const;

    /// sample() with a chosen candidate order and decision rule (for comparisons in tests).
    std::vector<int64_t> sample(const std::string& text, double alpha, Generator& gen,
                                const UnigramSampleOptions& opt) const;

    /// Concatenates the pieces; throws rflow::Error on an id outside [0, vocab_size()).
    std::string decode(const std::vector<int64_t>& ids) const;

    /// All matches text[start, end) of vocabulary pieces, in increasing end, and among equal ends
    /// in the given order: the candidate stream that encode() and sample() consume.
    std::vector<UnigramMatch> matches(const std::string& text,
                                      CandidateOrder order = CandidateOrder::longest_first) const;

    int64_t vocab_size() const;                    ///< Number of pieces.
    const std::string& piece(int64_t id) const;    ///< Piece bytes; throws on a bad id.
    double log_prob(int64_t id) const;             ///< Piece log-probability; throws on a bad id.
    int64_t piece_id(std::string_view piece) const;  ///< Id of a piece, or -1 when absent.
    int64_t max_piece_bytes() const;               ///< Length of the longest piece.

    struct Impl;  ///< Vocabulary and reversed-piece trie (src/data/tokenizer.cpp).

private:
    explicit UnigramTokenizer(std::shared_ptr<const Impl> impl);
    std::shared_ptr<const Impl> impl_;
};

}  // namespace rflow::data

// Internal to the unigram tokenizer: a double-array trie over the *reversed* vocabulary pieces, so
// that walking backwards from an end position e visits every piece text[s, e) in one pass, s
// decreasing (shortest piece first). Enumerating e = 1, 2, ..., l therefore yields all matches in
// increasing end position, which the Viterbi recursions of SPEC.md 6.c require.
//
// Double array (Aoe 1989): node n's child on byte c is slot t = base[n] + c when check[t] == n.
// One 12-byte unit per slot keeps base, check and the piece id of a node on one cache line.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace rflow::data::detail {

class ReverseTrie {
public:
    /// Builds the trie of pieces[i] reversed, with id i at the node that ends each one.
    /// Pieces must be non-empty and distinct (the caller checks).
    void build(const std::vector<std::string>& pieces);

    /// Calls f(start, id) for every piece text[start, end), start decreasing from end - 1.
    template <class F>
    void for_each_ending_at(const uint8_t* text, int64_t end, F&& f) const {
        const Unit* u = units_.data();
        int32_t n = 0;
        const int64_t stop = std::max<int64_t>(0, end - max_len_);
        for (int64_t k = end - 1; k >= stop; --k) {
            const int32_t t = u[n].base + text[k];
            if (u[t].check != n) return;
            n = t;
            if (u[n].id >= 0) f(k, u[n].id);
        }
    }

    int64_t max_len() const { return max_len_; }  ///< Longest piece, in bytes.

private:
    struct Unit {
        int32_t base = 0;    // children of this node sit at base + byte
        int32_t check = -1;  // parent slot; -1 free (the root's is -2)
        int32_t id = -1;     // piece id ending here, or -1
    };
    std::vector<Unit> units_;
    int64_t max_len_ = 0;
};

}  // namespace rflow::data::detail

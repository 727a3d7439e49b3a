// CPU 2-D convolution: im2col + GEMM for the forward and the weight adjoint, GEMM + col2im for
// the input adjoint (the transposed convolution). All three are bilinear maps of the same
// geometry (src/backend.hpp ConvParams). For one sample and one group, with Cg = C / groups input
// channels, Og = Co / groups output channels, K = Cg kh kw and P = Ho Wo:
//
//   col[(c kh + a) kw + b, i Wo + j] = x[c, i sh - ph + a dh, j sw - pw + b dw]   (im2col; 0 outside)
//   forward         y[o, p]   = sum_k w[o, k] col[k, p]        Y   = W Col
//   input adjoint   col[k, p] = sum_o w[o, k] y[o, p]          Col = W^T Y,  x = col2im(Col)
//   weight adjoint  w[o, k]   = sum_{n, p} y[o, p] col[k, p]   W   = sum_n Y Col^T
//
// Special cases: a 1x1 conv with stride 1 and no padding needs no col (col is x itself): a plain
// GEMM; stride-1 "same"-width convs (3x3 with padding 1, ...) build each row of col with one copy;
// the stride-1 input adjoint runs as a forward conv with the flipped kernel (no col2im scatter).
// Small images fold B consecutive samples into the GEMM's column axis (col [K, B P]), so a 7x7
// feature map still gives GEMMs a few hundred columns wide.
//
// Threads: blocks of samples run in parallel, each thread with its own buffers and a
// single-threaded sgemm (src/cpu/gemm_kernel.hpp). With few blocks (small batches: fewer than
// kFewBlocks), blocks run one after another and each GEMM's rows (cut where the shape says) and
// each im2col are split instead.
// The weight adjoint sums per-chunk partials in a fixed order over a chunk count that depends on
// the shapes only, so results never depend on the thread count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../backend.hpp"
#include "../core/tensor_impl.hpp"
#include "gemm_kernel.hpp"
#include "parallel.hpp"
#include "rflow/error.hpp"

namespace rflow::cpu {

namespace {

using backend::ConvParams;

struct Geo {
    int64_t N, C, H, W, Co, Ho, Wo, kh, kw, G, Cg, Og, K, P, HW;
    ConvParams p;
    bool pointwise;  // 1x1, stride 1, no padding: col == x
    int64_t B;       // samples folded into one GEMM
};

// Samples per GEMM: enough that B P reaches about kCols columns.
constexpr int64_t kCols = 512;
// The weight adjoint's partial sums: at most this many, fixed by the shapes.
constexpr int64_t kWeightChunks = 8;

Geo make_geo(const Shape& xs, const Shape& ws, const Shape& ys, const ConvParams& p) {
    Geo g{};
    g.N = xs[0], g.C = xs[1], g.H = xs[2], g.W = xs[3];
    g.Co = ws[0], g.kh = ws[2], g.kw = ws[3];
    g.Ho = ys[2], g.Wo = ys[3];
    g.G = p.groups, g.Cg = g.C / g.G, g.Og = g.Co / g.G;
    g.K = g.Cg * g.kh * g.kw, g.P = g.Ho * g.Wo, g.HW = g.H * g.W;
    g.p = p;
    g.pointwise = g.kh == 1 && g.kw == 1 && p.sh == 1 && p.sw == 1 && p.ph == 0 && p.pw == 0;
    g.B = std::clamp<int64_t>(kCols / std::max<int64_t>(g.P, 1), 1, std::max<int64_t>(g.N, 1));
    RFLOW_CHECK(ws[1] == g.Cg && ys[1] == g.Co && ys[0] == g.N, "conv2d: inconsistent shapes x "
                    << shape_str(xs) << ", w " << shape_str(ws) << ", y " << shape_str(ys));
    return g;
}

// First and one-past-last output column j whose input column j sw + off lies in [0, W).
void valid_cols(const Geo& g, int64_t off, int64_t& j0, int64_t& j1) {
    const int64_t sw = g.p.sw;
    j0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
    j1 = g.W - 1 - off < 0 ? 0 : (g.W - 1 - off) / sw + 1;
    j0 = std::min(j0, g.Wo);
    j1 = std::clamp(j1, j0, g.Wo);
}

// im2col_plane for stride 1 with Wo == W ("same" width, e.g. 3x3 with padding 1): output (i, j)
// of tap (a, b) reads input i W + j + shift with shift = (a dh - ph) W + b dw - pw, so a tap is one
// contiguous copy; the entries whose column wrapped around a row edge are zeroed afterwards.
void im2col_plane_same(const Geo& g, const float* x, float* col, int64_t ld) {
    const ConvParams& p = g.p;
    const int64_t W = g.W, n = g.Ho * W;
    for (int64_t a = 0; a < g.kh; ++a) {
        const int64_t oh = a * p.dh - p.ph;
        const int64_t i0 = std::clamp<int64_t>(-oh, 0, g.Ho), i1 = std::clamp<int64_t>(g.H - oh, i0, g.Ho);
        for (int64_t b = 0; b < g.kw; ++b) {
            float* row = col + (a * g.kw + b) * ld;
            const int64_t off = b * p.dw - p.pw, shift = oh * W + off;
            const int64_t p0 = std::clamp<int64_t>(-shift, i0 * W, i1 * W);
            const int64_t p1 = std::clamp<int64_t>(g.HW - shift, p0, i1 * W);
            std::fill(row, row + p0, 0.f);
            std::memcpy(row + p0, x + p0 + shift, (p1 - p0) * sizeof(float));
            std::fill(row + p1, row + n, 0.f);
            // column by column (a strided store per row), not a tiny memset call per row
            const int64_t j0 = std::clamp<int64_t>(-off, 0, W), j1 = std::clamp<int64_t>(W - off, j0, W);
            for (int64_t j = 0; j < j0; ++j)
                for (int64_t i = i0; i < i1; ++i) row[i * W + j] = 0.f;
            for (int64_t j = j1; j < W; ++j)
                for (int64_t i = i0; i < i1; ++i) row[i * W + j] = 0.f;
        }
    }
}

// The kh kw rows of col (leading dimension ld) that come from one input plane x [H, W].
void im2col_plane(const Geo& g, const float* x, float* col, int64_t ld) {
    const ConvParams& p = g.p;
    if (p.sh == 1 && p.sw == 1 && g.Wo == g.W) return im2col_plane_same(g, x, col, ld);
    for (int64_t a = 0; a < g.kh; ++a) {
        for (int64_t b = 0; b < g.kw; ++b) {
            float* row = col + (a * g.kw + b) * ld;
            const int64_t off = b * p.dw - p.pw;  // input column = j sw + off
            int64_t j0, j1;
            valid_cols(g, off, j0, j1);
            for (int64_t i = 0; i < g.Ho; ++i) {
                const int64_t ih = i * p.sh - p.ph + a * p.dh;
                float* dst = row + i * g.Wo;
                if (ih < 0 || ih >= g.H) {
                    std::fill(dst, dst + g.Wo, 0.f);
                    continue;
                }
                const float* src = x + ih * g.W;
                std::fill(dst, dst + j0, 0.f);
                if (p.sw == 1) std::memcpy(dst + j0, src + j0 + off, (j1 - j0) * sizeof(float));
                else for (int64_t j = j0; j < j1; ++j) dst[j] = src[j * p.sw + off];
                std::fill(dst + j1, dst + g.Wo, 0.f);
            }
        }
    }
}

// The adjoint of im2col_plane: x [H, W] += the kh kw rows of col scattered back.
void col2im_plane(const Geo& g, const float* col, int64_t ld, float* x) {
    const ConvParams& p = g.p;
    for (int64_t a = 0; a < g.kh; ++a) {
        for (int64_t b = 0; b < g.kw; ++b) {
            const float* row = col + (a * g.kw + b) * ld;
            const int64_t off = b * p.dw - p.pw;
            int64_t j0, j1;
            valid_cols(g, off, j0, j1);
            for (int64_t i = 0; i < g.Ho; ++i) {
                const int64_t ih = i * p.sh - p.ph + a * p.dh;
                if (ih < 0 || ih >= g.H) continue;
                const float* src = row + i * g.Wo;
                float* dst = x + ih * g.W + off;
                if (p.sw == 1) {
                    for (int64_t j = j0; j < j1; ++j) dst[j] += src[j];
                } else {
                    for (int64_t j = j0; j < j1; ++j) dst[j * p.sw] += src[j];
                }
            }
        }
    }
}

// Per-thread scratch (OpenMP keeps its threads, so the buffers are reused across calls).
struct Scratch {
    std::vector<float> col, mat;
    float* col_buf(int64_t n) { if (int64_t(col.size()) < n) col.resize(n); return col.data(); }
    float* mat_buf(int64_t n) { if (int64_t(mat.size()) < n) mat.resize(n); return mat.data(); }
};
Scratch& scratch() {
    static thread_local Scratch s;
    return s;
}

// Runs f over [0, n) in parallel when `inner`, else on this thread.
template <class F>
void maybe_parallel(bool inner, int64_t n, int64_t grain, F&& f) {
    if (inner) parallel_for(n, grain, f);
    else if (n > 0) f(int64_t{0}, n);
}

// Below this many multiply-adds per thread, splitting a GEMM costs more than it saves.
constexpr int64_t kMinMacsPerThread = int64_t{1} << 20;
// Below this many floats moved per thread, splitting im2col / col2im does not pay either.
constexpr int64_t kMinCopyPerThread = int64_t{1} << 15;

// C[m, n] (+)= op(A) op(B), with the rows of C split across threads when `inner`.
void gemm_rows(bool inner, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    // Blocks of at least 16 M multiply-adds: each call packs all of B again (see blas_gemm).
    const int64_t grain = std::max<int64_t>(16, (kMinMacsPerThread << 4) / std::max<int64_t>(n * k, 1));
    const auto rows = [&](int64_t r0, int64_t r1) {
        sgemm_serial(ta, tb, r1 - r0, n, k, a + (ta ? r0 : r0 * lda), lda, b, ldb, beta, c + r0 * ldc, ldc);
    };
    if (inner) parallel_fixed_blocks(m, grain, rows);  // cut by the shape alone: the same bits at any thread count
    else rows(0, m);
}

// col [K, nb P] for samples n0 .. n0 + nb of group grp (nb P columns, sample q at column q P).
void im2col_block(const Geo& g, const float* x, int64_t n0, int64_t nb, int64_t grp, float* col, bool inner) {
    const int64_t ld = nb * g.P, rows = g.kh * g.kw;
    maybe_parallel(inner, nb * g.Cg, std::max<int64_t>(1, kMinCopyPerThread / (rows * g.P + 1)), [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t q = t / g.Cg, c = t % g.Cg;
            const float* plane = x + ((n0 + q) * g.C + grp * g.Cg + c) * g.HW;
            im2col_plane(g, plane, col + c * rows * ld + q * g.P, ld);
        }
    });
}

// mat [Og, nb P] <- y[n0 .. n0 + nb, group grp] (samples side by side).
void gather_block(const Geo& g, const float* y, int64_t n0, int64_t nb, int64_t grp, float* mat) {
    for (int64_t o = 0; o < g.Og; ++o)
        for (int64_t q = 0; q < nb; ++q)
            std::memcpy(mat + (o * nb + q) * g.P, y + ((n0 + q) * g.Co + grp * g.Og + o) * g.P, g.P * sizeof(float));
}

// ---- forward: y = W col (+ b) for samples [n0, n0 + nb) ----
void forward_block(const Geo& g, const float* x, const float* w, const float* bias, float* y, int64_t n0,
                   int64_t nb, bool inner) {
    Scratch& s = scratch();
    for (int64_t grp = 0; grp < g.G; ++grp) {
        const float* wg = w + grp * g.Og * g.K;
        const float* col = x + (n0 * g.C + grp * g.Cg) * g.HW;
        int64_t ld = g.P;
        if (!(g.pointwise && nb == 1)) {
            float* buf = s.col_buf(g.K * nb * g.P);
            im2col_block(g, x, n0, nb, grp, buf, inner);
            col = buf, ld = nb * g.P;
        }
        if (nb == 1) {  // straight into y[n0], rows pre-filled with the bias
            float* yg = y + (n0 * g.Co + grp * g.Og) * g.P;
            if (bias)
                for (int64_t o = 0; o < g.Og; ++o) std::fill(yg + o * g.P, yg + (o + 1) * g.P, bias[grp * g.Og + o]);
            gemm_rows(inner, false, false, g.Og, g.P, g.K, wg, g.K, col, ld, bias ? 1.f : 0.f, yg, g.P);
            continue;
        }
        float* mat = s.mat_buf(g.Og * ld);
        gemm_rows(inner, false, false, g.Og, ld, g.K, wg, g.K, col, ld, 0.f, mat, ld);
        for (int64_t q = 0; q < nb; ++q) {
            for (int64_t o = 0; o < g.Og; ++o) {
                const float* src = mat + o * ld + q * g.P;
                float* dst = y + ((n0 + q) * g.Co + grp * g.Og + o) * g.P;
                const float bo = bias ? bias[grp * g.Og + o] : 0.f;
                for (int64_t i = 0; i < g.P; ++i) dst[i] = src[i] + bo;
            }
        }
    }
}

// ---- input adjoint: x = col2im(W^T y) (+ b) for samples [n0, n0 + nb) ----
void input_block(const Geo& g, const float* y, const float* w, const float* bias, float* x, int64_t n0,
                 int64_t nb, bool inner) {
    Scratch& s = scratch();
    const bool direct = g.pointwise && nb == 1;  // W^T y lands in x as is
    if (!direct) std::fill(x + n0 * g.C * g.HW, x + (n0 + nb) * g.C * g.HW, 0.f);
    for (int64_t grp = 0; grp < g.G; ++grp) {
        const float* wg = w + grp * g.Og * g.K;
        const float* yg = y + (n0 * g.Co + grp * g.Og) * g.P;
        int64_t ld = g.P;
        if (nb > 1) {
            float* mat = s.mat_buf(g.Og * nb * g.P);
            gather_block(g, y, n0, nb, grp, mat);
            yg = mat, ld = nb * g.P;
        }
        if (direct) {
            gemm_rows(inner, true, false, g.K, g.P, g.Og, wg, g.K, yg, ld, 0.f,
                      x + (n0 * g.C + grp * g.Cg) * g.HW, g.P);
            continue;
        }
        float* col = s.col_buf(g.K * ld);
        gemm_rows(inner, true, false, g.K, ld, g.Og, wg, g.K, yg, ld, 0.f, col, ld);
        const int64_t rows = g.kh * g.kw;
        maybe_parallel(inner, nb * g.Cg, std::max<int64_t>(1, kMinCopyPerThread / (rows * g.P + 1)), [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
                const int64_t q = t / g.Cg, c = t % g.Cg;
                col2im_plane(g, col + c * rows * ld + q * g.P, ld, x + ((n0 + q) * g.C + grp * g.Cg + c) * g.HW);
            }
        });
    }
    if (bias)
        for (int64_t n = n0; n < n0 + nb; ++n)
            for (int64_t c = 0; c < g.C; ++c) {
                float* plane = x + (n * g.C + c) * g.HW;
                for (int64_t i = 0; i < g.HW; ++i) plane[i] += bias[c];
            }
}

// ---- weight adjoint: dw (+)= Y Col^T over samples [n0, n0 + nb); accumulate adds to dw ----
void weight_block(const Geo& g, const float* x, const float* y, float* dw, int64_t n0, int64_t nb, bool accumulate,
                  bool inner) {
    Scratch& s = scratch();
    for (int64_t grp = 0; grp < g.G; ++grp) {
        const float* col = x + (n0 * g.C + grp * g.Cg) * g.HW;
        const float* yg = y + (n0 * g.Co + grp * g.Og) * g.P;
        int64_t ld = g.P;
        if (nb > 1) {
            float* mat = s.mat_buf(g.Og * nb * g.P);
            gather_block(g, y, n0, nb, grp, mat);
            yg = mat, ld = nb * g.P;
        }
        if (!(g.pointwise && nb == 1)) {
            float* buf = s.col_buf(g.K * ld);
            im2col_block(g, x, n0, nb, grp, buf, inner);
            col = buf;
        }
        gemm_rows(inner, false, true, g.Og, g.K, ld, yg, ld, col, ld, accumulate ? 1.f : 0.f,
                  dw + grp * g.Og * g.K, g.K);
    }
}

// Split the work inside a block (rather than across blocks) when there are few blocks and a block
// is big enough to be worth splitting. Decided by the shape alone (not by the thread count), as
// the GEMM's cuts follow it (gemm_rows).
int64_t block_macs(const Geo& g) { return g.Co * g.K * g.P * g.B / g.G; }
constexpr int64_t kFewBlocks = 8;
bool split_inside(const Geo& g, int64_t blocks) {
    return blocks < kFewBlocks && block_macs(g) >= 2 * kMinMacsPerThread;
}
// Blocks per thread when running blocks in parallel: enough work to pay for the threads.
int64_t block_grain(const Geo& g) { return std::max<int64_t>(1, kMinMacsPerThread / std::max<int64_t>(block_macs(g), 1)); }

// Runs body(n0, nb, inner) over the sample blocks of g: in parallel across blocks, or block after
// block with the work inside split (split_inside).
template <class F>
void over_blocks(const Geo& g, F&& body) {
    const int64_t blocks = (g.N + g.B - 1) / g.B;
    if (split_inside(g, blocks)) {
        for (int64_t i = 0; i < blocks; ++i) body(i * g.B, std::min(g.B, g.N - i * g.B), true);
        return;
    }
    parallel_for(blocks, block_grain(g), [&](int64_t b0, int64_t b1) {
        for (int64_t i = b0; i < b1; ++i) body(i * g.B, std::min(g.B, g.N - i * g.B), false);
    });
}

}  // namespace

void conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, Tensor& y, const backend::ConvParams& p) {
    const Tensor x = x_in.contiguous(), w = w_in.contiguous();
    const Tensor b = b_in.defined() ? b_in.contiguous() : Tensor();
    const Geo g = make_geo(x.shape(), w.shape(), y.shape(), p);
    if (y.numel() == 0) return;
    const float *px = x.data(), *pw = w.data(), *pb = b.defined() ? b.data() : nullptr;
    float* py = y.data();
    over_blocks(g, [&](int64_t n0, int64_t nb, bool inner) { forward_block(g, px, pw, pb, py, n0, nb, inner); });
}

void conv2d_input(const Tensor& y_in, const Tensor& w_in, const Tensor& b_in, Tensor& x, const backend::ConvParams& p) {
    const Tensor y = y_in.contiguous(), w = w_in.contiguous();
    const Tensor b = b_in.defined() ? b_in.contiguous() : Tensor();
    const Geo g = make_geo(x.shape(), w.shape(), y.shape(), p);
    if (x.numel() == 0) return;
    const float *py = y.data(), *pw = w.data(), *pb = b.defined() ? b.data() : nullptr;
    float* px = x.data();
    const int64_t fh = p.dh * (g.kh - 1) - p.ph, fw = p.dw * (g.kw - 1) - p.pw;
    if (p.sh == 1 && p.sw == 1 && fh >= 0 && fw >= 0 && !g.pointwise) {
        // stride 1: the adjoint is itself a convolution of y, with the kernel flipped, its in/out
        // channels swapped (per group) and padding d (k - 1) - p:
        //   x[c] = sum_{o, a, b} w[o, c, kh-1-a, kw-1-b] y[o, i - (d (kh-1) - ph) + a d, ...]
        // a forward pass (im2col + GEMM) instead of a GEMM + col2im scatter.
        std::vector<float> wf(w.numel());
        for (int64_t grp = 0; grp < g.G; ++grp)
            for (int64_t o = 0; o < g.Og; ++o)
                for (int64_t c = 0; c < g.Cg; ++c)
                    for (int64_t a = 0; a < g.kh; ++a)
                        for (int64_t e = 0; e < g.kw; ++e)
                            wf[(((grp * g.Cg + c) * g.Og + o) * g.kh + g.kh - 1 - a) * g.kw + g.kw - 1 - e] =
                                pw[(((grp * g.Og + o) * g.Cg + c) * g.kh + a) * g.kw + e];
        const ConvParams pf{1, 1, fh, fw, p.dh, p.dw, p.groups};
        const Geo gf = make_geo(y.shape(), {g.C, g.Og, g.kh, g.kw}, x.shape(), pf);
        over_blocks(gf, [&](int64_t n0, int64_t nb, bool inner) { forward_block(gf, py, wf.data(), pb, px, n0, nb, inner); });
        return;
    }
    over_blocks(g, [&](int64_t n0, int64_t nb, bool inner) { input_block(g, py, pw, pb, px, n0, nb, inner); });
}

void conv2d_weight(const Tensor& x_in, const Tensor& y_in, Tensor& w, const backend::ConvParams& p) {
    const Tensor x = x_in.contiguous(), y = y_in.contiguous();
    const Geo g = make_geo(x.shape(), w.shape(), y.shape(), p);
    float* pw = w.data();
    const int64_t wn = w.numel();
    const int64_t blocks = (g.N + g.B - 1) / g.B;
    if (blocks == 0 || g.P == 0) {
        std::fill(pw, pw + wn, 0.f);
        return;
    }
    // chunk c sums blocks [blocks c / chunks, blocks (c + 1) / chunks) in order into its partial
    const int64_t chunks = std::min(blocks, kWeightChunks);
    std::vector<float> partial(chunks > 1 ? (chunks - 1) * wn : 0);
    const float *px = x.data(), *py = y.data();
    auto run_chunk = [&](int64_t c, bool inner) {
        float* dst = c == 0 ? pw : partial.data() + (c - 1) * wn;
        for (int64_t i = blocks * c / chunks; i < blocks * (c + 1) / chunks; ++i)
            weight_block(g, px, py, dst, i * g.B, std::min(g.B, g.N - i * g.B), i != blocks * c / chunks, inner);
    };
    if (split_inside(g, chunks)) {
        for (int64_t c = 0; c < chunks; ++c) run_chunk(c, true);
    } else {
        const int64_t grain = (block_grain(g) * chunks + blocks - 1) / blocks;  // chunks worth kMinMacs
        parallel_for(chunks, grain, [&](int64_t c0, int64_t c1) {
            for (int64_t c = c0; c < c1; ++c) run_chunk(c, false);
        });
    }
    if (chunks == 1) return;
    parallel_for(wn, kElementwiseGrain, [&](int64_t i0, int64_t i1) {
        for (int64_t c = 1; c < chunks; ++c) {
            const float* src = partial.data() + (c - 1) * wn;
            for (int64_t i = i0; i < i1; ++i) pw[i] += src[i];
        }
    });
}

}  // namespace rflow::cpu

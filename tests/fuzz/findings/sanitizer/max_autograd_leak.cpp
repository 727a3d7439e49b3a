// Sanitizer finding S2 (docs/reliability.md): max() with autograd leaks its graph (LeakSanitizer:
// 712 bytes in 14 allocations for this program; sum() instead of max() leaks nothing). The backward
// closure recorded by max (src/core/ops_reduce.cpp:59) captures `m`, the result's own handle, so
// result -> node -> closure -> result is a shared_ptr cycle that keeps the node and everything it
// reaches (the whole forward graph, in test_unet/test_dit) alive.
// Build against the ASan build (tests/sanitize.sh makes build-asan/):
//   g++ -std=c++17 -g -fsanitize=address,undefined max_autograd_leak.cpp -Iinclude -Ibuild-asan/include \
//       -Lbuild-asan -lrflow -Wl,-rpath,$PWD/build-asan -o /tmp/max_leak && /tmp/max_leak max
#include <cstdio>
#include <cstring>

#include "rflow/rflow.hpp"

using namespace rflow;

int main(int argc, char** argv) {
    Tensor x = Tensor::from_vector({1, 5, 3, 2, 8, 4}, {2, 3});
    x.requires_grad_(true);
    const bool use_max = argc < 2 || std::strcmp(argv[1], "max") == 0;
    Tensor y = use_max ? max(x, {1}) : sum(x, {1});
    std::printf("%s: %g\n", use_max ? "max" : "sum", sum(y).item());
    return 0;
}

/* Samples a trained rflow model through the C API (rflow/rflow_c.h) and prints the samples as CSV:
 *   c_sample CHECKPOINT [N [SEED [METHOD [STEPS]]]]
 * Exit 2 with the library's message (naming the file) when the model cannot be loaded or sampled. */
#include <stdio.h>
#include <stdlib.h>

#include "rflow/rflow_c.h"

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CHECKPOINT [N [SEED [METHOD [STEPS]]]]\n", argv[0]);
        return 2;
    }
    const long long n = argc > 2 ? atoll(argv[2]) : 8;
    const unsigned long long seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    const char* method = argc > 4 ? argv[4] : "euler";
    const int steps = argc > 5 ? atoi(argv[5]) : 100;
    char err[1024];
    rflow_model* m = rflow_load_model(argv[1], 1, err, sizeof err);
    if (!m) {
        fprintf(stderr, "c_sample: %s\n", err);
        return 2;
    }
    const long long d = (long long)rflow_sample_numel(m);
    float* x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1) * (size_t)d);
    const long long nfe = x ? (long long)rflow_sample(m, n, seed, method, steps, NULL, 1.0f, x, err, sizeof err) : -1;
    if (nfe < 0) {
        fprintf(stderr, "c_sample: %s\n", x ? err : "out of memory");
        free(x);
        rflow_free_model(m);
        return 2;
    }
    for (long long i = 0; i < n; ++i)
        for (long long j = 0; j < d; ++j) printf("%.6f%s", x[i * d + j], j + 1 < d ? "," : "\n");
    fprintf(stderr, "rflow %s: %lld samples, NFE %lld\n", rflow_version(), n, nfe);
    free(x);
    rflow_free_model(m);
    return 0;
}

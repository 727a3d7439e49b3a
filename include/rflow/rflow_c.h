/* The C API of rflow: load a trained model, sample it, free it; for programs in C and for other
 * languages' foreign-function interfaces (Python ctypes, Rust, Go, Julia, ...). Plain C99, no
 * C++ types cross it. Errors: functions return NULL or a negative number and write a message
 * (naming the file or the argument at fault) into the caller's buffer, which may be NULL.
 *
 *   char err[512];
 *   rflow_model* m = rflow_load_model("out/1rf/checkpoint.safetensors", 1, err, sizeof err);
 *   if (!m) { fprintf(stderr, "%s\n", err); return 1; }
 *   float* x = malloc(sizeof(float) * 16 * rflow_sample_numel(m));
 *   if (rflow_sample(m, 16, 7, "euler", 100, NULL, 1.0f, x, err, sizeof err) < 0) ...
 *   rflow_free_model(m);
 *
 * The same seed, sampler and steps give the same samples as `rflow sample --seed`.
 */
#ifndef RFLOW_RFLOW_C_H
#define RFLOW_RFLOW_C_H

#include <stddef.h>
#include <stdint.h>

#include "rflow/export.hpp"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rflow_model rflow_model;

/* "0.1.0" and RFLOW_VERSION_NUMBER (major * 1000000 + minor * 1000 + patch) of the library
 * actually loaded, which may differ from the headers a program was compiled with. */
RFLOW_API const char* rflow_version(void);
RFLOW_API int rflow_version_number(void);

/* Loads a checkpoint written by rflow (train, reflow, distill, train-images, convert): the EMA
 * weights when use_ema and the file has them. NULL on error. */
RFLOW_API rflow_model* rflow_load_model(const char* path, int use_ema, char* err, size_t err_size);

/* The shape of one sample: writes up to max_dims sizes ([D] for points, [C, H, W] for images)
 * and returns the rank. */
RFLOW_API int rflow_sample_shape(const rflow_model* model, int64_t* dims, int max_dims);
/* Floats in one sample (the product of its shape). */
RFLOW_API int64_t rflow_sample_numel(const rflow_model* model);
/* Classes of a class-conditional model (0 when unconditional). */
RFLOW_API int64_t rflow_num_classes(const rflow_model* model);

/* Draws n samples into out (n * rflow_sample_numel floats, row-major [n, shape...]; images in
 * [-1, 1] before clamping): noise from `seed`, integrated by `method` ("euler", "heun", "rk4",
 * "dopri5", ...) with `steps` steps (fixed-step methods). labels: NULL, or n class labels of a
 * class-conditional model, guided with cfg_scale. Returns the number of velocity evaluations, or
 * -1 on error. */
RFLOW_API int64_t rflow_sample(rflow_model* model, int64_t n, uint64_t seed, const char* method, int steps,
                               const int64_t* labels, float cfg_scale, float* out, char* err, size_t err_size);

/* Frees the model (NULL is ignored). */
RFLOW_API void rflow_free_model(rflow_model* model);

#ifdef __cplusplus
}
#endif

#endif /* RFLOW_RFLOW_C_H */

// Toy 2-D datasets generated from the Philox stream, with the common definitions of the FFJORD /
// flow-matching / rectified-flow toy experiments (all within about [-4, 4]^2):
//
//   8gaussians:   k ~ U{0..7}; centre 2 (cos k pi/4, sin k pi/4); plus N(0, 0.1^2 I).
//   25gaussians:  (i, j) ~ U{-2..2}^2 (each 1/25); centre (i, j); plus N(0, 0.05^2 I).
//   moons:        label ~ Bernoulli(1/2), a ~ U[0, pi]; upper (label 1): (cos a, sin a),
//                 lower (label 0): (1 - cos a, 0.5 - sin a); plus N(0, 0.05^2 I); then
//                 (x, y) -> ((x - 0.5) 4/3, (y - 0.25) 4/3). Noise-free support: [-2, 2] x [-1, 1].
//   checkerboard: uniform on the 8 unit squares [-2 + i, -1 + i] x [-2 + j, -1 + j] of [-2, 2]^2
//                 (column i, row j in 0..3 counted from the bottom-left) with i + j even; each
//                 square has mass 1/8.
//   swissroll:    u ~ U[0, 1), s = 1.5 pi (1 + 2u); ((s cos s, s sin s) + N(0, I)) / 5
//                 (sklearn make_swiss_roll(noise=1) columns x and z, divided by 5).
//   circles:      ring ~ Bernoulli(1/2) picks radius r = 1 or r = 2 (equal mass per ring),
//                 a ~ U[0, 2 pi); (r cos a, r sin a) plus N(0, 0.05^2 I).
//   spiral:       two interleaved arms (FFJORD "2spirals", arm chosen per point):
//                 arm ~ Bernoulli(1/2) gives sign s = +1 or -1, w ~ U[0, 1), th = 3 pi sqrt(w),
//                 e1, e2 ~ U[0, 1); p = s (-th cos th + e1/2, th sin th + e2/2) / 3 plus N(0, 0.1^2 I).
//                 Radius up to about pi.
//
// Each is a pure function of the generator state; the draw order is documented in src/data/toy2d.cpp.
#pragma once

#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/philox.hpp"
#include "rflow/tensor.hpp"

namespace rflow::data {

/// n points [n, 2] from the named toy distribution: a pure function of `gen`'s state, which it
/// advances. rflow::Error names an unknown dataset and lists the known ones.
RFLOW_API Tensor sample_toy(const std::string& name, int64_t n, Generator& gen);
/// The registered names, for --help and for tests that loop over every dataset.
RFLOW_API std::vector<std::string> toy_dataset_names();

}  // namespace rflow::data

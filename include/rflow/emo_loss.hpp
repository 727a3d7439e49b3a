// EMO: earth mover distance optimisation (SPEC §7; Ren et al., ICLR 2024). With a frozen cost
// embedding E [V, D] (a trained output layer's weights, or the current ones detached) and its
// row-normalised copy Ê, the transport cost between p = softmax(z) and a one-hot label t is
//   L_EMO = sum_i p_i (1 - cos(e_i, e_t)) = 1 - <p @ Ê, Ê[t]>,
// computed as one [N, V] @ [V, D] product (the V x V cost matrix is never formed). Its gradient in
// the logits is p_k (c_kt - L_EMO). Combined with cross-entropy as in the official code:
//   mode "ce+emo" (emo1): l = ½ [l_CE + sg(l_CE / l_EMO) l_EMO]   (value = l_CE, gradient a blend)
//   mode "emo+ce" (emo2): l = l_EMO + sg(l_EMO / l_CE) l_CE
// then a masked mean over rows whose label is not ignore_index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/loss.hpp"
#include "rflow/tensor.hpp"

namespace rflow {

enum class ClassifierLoss { ce, emo, ce_emo, emo_ce };

/// "ce" | "emo" | "ce+emo" | "emo+ce"; errors list the names.
RFLOW_API ClassifierLoss classifier_loss(const std::string& name);
RFLOW_API std::vector<std::string> classifier_loss_names();

/// Ê = E / ||E||_2 row-wise, detached (E [V, D], no zero rows).
RFLOW_API Tensor emo_cost_embedding(const Tensor& embedding);

/// L_EMO per row for logits [N, V], labels [N] and a normalised cost embedding Ê [V, D]; ignored rows
/// give 0 and are left out of the mean.
RFLOW_API Tensor emo_loss(const Tensor& logits, const std::vector<int64_t>& labels, const Tensor& cost_embedding,
                          Reduction r = Reduction::mean, int64_t ignore_index = -100);

/// The classifier objective by kind: cross-entropy, EMO, or the two official combinations (the
/// cost embedding is unused, and may be undefined, for "ce").
RFLOW_API Tensor classifier_objective(ClassifierLoss kind, const Tensor& logits, const std::vector<int64_t>& labels,
                                      const Tensor& cost_embedding, int64_t ignore_index = -100);

}  // namespace rflow

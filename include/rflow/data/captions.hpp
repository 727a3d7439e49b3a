// Text captions for class-labelled image data: templates over class names and synonyms, so an
// image model can be trained on prompts ("a photo of a pair of sneakers") instead of class indices.
// Training draws a random template and synonym per image; evaluation uses one canonical caption per
// class; prompt_class maps free text back to the class it names (for prompt-match metrics).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rflow/export.hpp"
#include "rflow/philox.hpp"

namespace rflow::data {

struct RFLOW_API CaptionSet {
    /// One list of phrases per class; the first phrase is the class's canonical name.
    std::vector<std::vector<std::string>> phrases;
    /// Templates with one "{}" where the phrase goes; the first is the canonical template.
    std::vector<std::string> templates;

    int64_t num_classes() const { return static_cast<int64_t>(phrases.size()); }
    /// A random caption of class c: a template and a phrase, each drawn uniformly from gen.
    std::string random_caption(int64_t c, Generator& gen) const;
    /// The canonical caption of class c (first template, first phrase).
    std::string canonical_caption(int64_t c) const;
    /// Every template x phrase caption (a corpus for training a tokenizer).
    std::vector<std::string> all_captions() const;
    /// The class whose phrase occurs in the prompt (case-insensitive; the longest match wins, so
    /// "ankle boot" beats "boot"), or -1 when none does.
    int64_t prompt_class(const std::string& prompt) const;
};

/// Fashion-MNIST's ten classes with synonyms and a handful of photo-style templates.
RFLOW_API const CaptionSet& fashion_mnist_captions();
/// Phrases from class names alone (e.g. an image folder's sub-folders), with the same templates.
RFLOW_API CaptionSet captions_from_class_names(const std::vector<std::string>& names);

}  // namespace rflow::data

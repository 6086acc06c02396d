// `xgrad attention`: what each attention head of a trained GPT looks at, as
// one self-contained HTML page of SVG heatmaps (train/pictures/attention.cpp).
// Called by the command line (train/cli/main.cpp) and tests/test_visualize.cpp.
#pragma once

#include "models/language_model.hpp"

#include <string>
#include <vector>

namespace xgrad {

// One head's attention weights on the text: wei[i][j] is how much the
// character at position i (the query) takes from position j (the key).
struct HeadWeights {
    std::size_t layer = 0, head = 0;
    Array wei;  // (T,T), zero above the diagonal
};

// Every head's weights on the tokens ids (at most block_size), from the
// model's own forward: in the order the heads run, block by block.
std::vector<HeadWeights> attention_weights(const LanguageModel& model, const std::vector<std::int64_t>& ids);

// One head's heatmap as an inline <svg> (rows queries, columns keys, the
// text's characters on both axes), and the page's CSS: shared with the
// head-analysis page (train/pictures/heads_page.cpp).
std::string heatmap_svg(const HeadWeights& hw, const std::u32string& chars);
const char* attention_page_style();

// One <svg> heatmap per head per layer (n_layer x n_head), the text's
// characters on both axes; with json_out, also the weights as JSON there.
void attention_html(const std::string& checkpoint, const std::string& text, const std::string& out_path,
                    const std::string& json_out = "");

}  // namespace xgrad

// `xgrad attention`: an HTML page of SVG heatmaps, one per head per layer, of
// the weights each Head computes on a text. Like every picture here, plain
// text written by hand, self-contained (no scripts, no fonts, no network) and
// saved atomically.
#include "train/pictures/attention.hpp"

#include "autograd/error.hpp"
#include "models/gpt.hpp"
#include "train/analysis/heads.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/formats/safetensors.hpp"
#include "train/pictures/markup.hpp"
#include "train/text/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace xgrad {

using namespace pictures;

namespace {

// One character of the text as a learner should see it on an axis, escaped
// for XML: space, newline and tab get visible symbols, other control
// characters their Unicode "control picture" (U+2400 + c).
std::string show_char(char32_t c) {
    switch (c) {
        case U' ': return "\u2423";   // ␣
        case U'\n': return "\u23CE";  // ⏎
        case U'\t': return "\u21E5";  // ⇥
        case U'\r': return "\u240D";  // ␍
        case 0x7f: return "\u2421";   // ␡
        default: break;
    }
    if (c < 0x20) return encode_utf8(std::u32string(1, char32_t(0x2400 + c)));
    if (c >= 0x80 && c < 0xa0) return "\uFFFD";  // C1 controls are not allowed in XML
    return xml_escape(encode_utf8(std::u32string(1, c)));
}

// --- colours ------------------------------------------------------------------

// The viridis colour map (perceptually uniform, readable by the colour-blind,
// still ordered when printed in grey), sampled at 0, 1/8, ..., 1.
constexpr unsigned char kViridis[9][3] = {{68, 1, 84},    {72, 40, 120},  {62, 73, 137},  {49, 104, 142}, {38, 130, 142},
                                          {31, 158, 137}, {53, 183, 121}, {110, 206, 88}, {253, 231, 37}};

std::string viridis(double t) {
    t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 8;
    const int i = std::min(static_cast<int>(t), 7);
    const double f = t - i;
    char buf[8];
    int rgb[3];
    for (int k = 0; k < 3; ++k) rgb[k] = static_cast<int>(std::lround(kViridis[i][k] * (1 - f) + kViridis[i + 1][k] * f));
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
    return buf;
}

}  // namespace

// Runs the model on the text with an AttentionCapture (models/hooks.hpp, through analysis::capture_attention): the
// weights are those each Head's own forward computes, after its softmax (in
// eval mode, so no dropout touches them).
std::vector<HeadWeights> attention_weights(const LanguageModel& model, const std::vector<std::int64_t>& ids) {
    const std::size_t T = ids.size();
    Index idx = Index::from_shape({1, T});
    std::copy(ids.begin(), ids.end(), idx.begin());
    const std::vector<analysis::HeadScores> heads = analysis::list_heads(model);
    const std::vector<Tensor> weights = analysis::capture_attention(model, idx, heads.size());
    std::vector<HeadWeights> out;
    for (std::size_t k = 0; k < heads.size(); ++k) {
        Array w = weights[k].data();  // (1,T,T)
        w.reshape({T, T});
        out.push_back({heads[k].layer, heads[k].head, std::move(w)});
    }
    return out;
}


// One heatmap as an inline <svg>: rows are queries, columns keys, the masked
// future an empty grey staircase; hovering a cell shows its weight.
std::string heatmap_svg(const HeadWeights& hw, const std::u32string& chars) {
    const std::size_t T = chars.size();
    const int c = std::clamp(static_cast<int>(320 / T), 5, 24);  // cell size in px
    const bool char_labels = c >= 9;
    const int fs = std::min(13, c - 2);  // label font size
    const int label_w = char_labels ? c + 4 : 26;
    const int left = 22 + label_w, top = 52 + (char_labels ? fs + 4 : 14);
    const int side = static_cast<int>(T) * c;
    const int width = std::max(left + side + 10, 190), height = top + side + 10;
    const std::string name = "layer " + std::to_string(hw.layer) + ", head " + std::to_string(hw.head);
    std::vector<std::string> glyph(T);
    for (std::size_t i = 0; i < T; ++i) glyph[i] = show_char(chars[i]);

    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
      << width << " " << height << "\" role=\"img\" aria-label=\"" << name << ": attention weights\">\n";
    s << "<text x=\"" << left << "\" y=\"17\" font-family=\"" << kFontSans
      << "\" font-size=\"14\" font-weight=\"bold\" fill=\"#222\">" << name << "</text>\n";
    s << "<text x=\"" << left << "\" y=\"31\" font-family=\"" << kFontMono << "\" font-size=\"10\" fill=\"#888\">blocks."
      << hw.layer << ".sa.heads." << hw.head << "</text>\n";
    // axis captions: key positions grow to the right, query positions downwards
    s << "<text x=\"" << left << "\" y=\"46\" font-family=\"" << kFontSans
      << "\" font-size=\"11\" fill=\"#666\">key (looked at) \u2192</text>\n";
    s << "<text transform=\"translate(12," << top << ") rotate(90)\" font-family=\"" << kFontSans
      << "\" font-size=\"11\" fill=\"#666\">query (looking) \u2192</text>\n";

    // the axis labels: the characters, or every 10th position on long texts
    s << "<g font-family=\"" << kFontMono << "\" font-size=\"" << (char_labels ? fs : 9) << "\" fill=\"#333\">\n";
    for (std::size_t i = 0; i < T; ++i) {
        if (!char_labels && i % 10 != 0) continue;
        const std::string text = char_labels ? glyph[i] : std::to_string(i);
        const double mid = static_cast<double>(i) * c + c / 2.0;
        s << "<text x=\"" << num(left + mid) << "\" y=\"" << top - 5 << "\" text-anchor=\"middle\">" << text << "</text>";
        s << "<text x=\"" << left - 5 << "\" y=\"" << num(top + mid) << "\" dy=\"0.35em\" text-anchor=\"end\">" << text
          << "</text>\n";
    }
    s << "</g>\n";

    // the masked future: every cell right of the diagonal, as one staircase
    if (T > 1) {
        s << "<path d=\"M" << left + c << "," << top << " H" << left + side << " V" << top + side - c;
        for (std::size_t i = T - 1; i-- > 0;) s << " H" << left + static_cast<int>(i + 1) * c << " V" << top + static_cast<int>(i) * c;
        s << " Z\" fill=\"#f3f3f3\"><title>masked: a character cannot look at the ones after it</title></path>\n";
    }
    s << "<rect x=\"" << left - 0.5 << "\" y=\"" << top - 0.5 << "\" width=\"" << side + 1 << "\" height=\"" << side + 1
      << "\" fill=\"none\" stroke=\"#bbb\"/>\n";

    // the weights: row i (the query) spreads 1 over the keys 0..i
    s << "<g class=\"cells\" shape-rendering=\"crispEdges\">\n";
    for (std::size_t i = 0; i < T; ++i) {
        for (std::size_t j = 0; j <= i; ++j) {
            const double w = hw.wei(i, j);
            s << "<rect x=\"" << left + static_cast<int>(j) * c << "\" y=\"" << top + static_cast<int>(i) * c
              << "\" width=\"" << c << "\" height=\"" << c << "\" fill=\"" << viridis(w) << "\"><title>query " << i << " "
              << glyph[i] << " \u2192 key " << j << " " << glyph[j] << ": " << fmt("%.4f", w) << "</title></rect>";
        }
        s << "\n";
    }
    s << "</g>\n</svg>\n";
    return s.str();
}

namespace {

const char* const kPageStyle = R"(
body { font-family: system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Helvetica, Arial, sans-serif;
       color: #222; background: #fff; margin: 2em auto; max-width: 1800px; padding: 0 1.5em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin: 1.6em 0 0.4em; border-bottom: 1px solid #e4e4e4; padding-bottom: 0.2em; }
.meta { color: #666; font-size: 0.92em; }
.explain { max-width: 52em; }
.tokens { display: flex; flex-wrap: wrap; gap: 3px; margin: 0.8em 0; }
.tok { display: inline-flex; flex-direction: column; align-items: center; min-width: 1.7em;
       border: 1px solid #ccc; border-radius: 4px; background: #fafafa; padding: 2px 3px; }
.tok b { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-weight: normal; font-size: 1.1em; }
.tok i { font-style: normal; color: #999; font-size: 0.7em; }
.scale { display: flex; align-items: center; gap: 0.6em; font-size: 0.9em; color: #444; margin: 1em 0; }
.bar { width: 260px; height: 14px; border: 1px solid #bbb;
       background: linear-gradient(to right, #440154, #482878, #3e4989, #31688e, #26828e, #1f9e89, #35b779, #6ece58, #fde725); }
.ticks { display: flex; justify-content: space-between; width: 262px; font-size: 0.8em; color: #666; }
.masked { display: inline-block; width: 14px; height: 14px; background: #f3f3f3; border: 1px solid #bbb; vertical-align: middle; }
.heads { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
.heads svg { background: #fff; }
g.cells rect:hover { stroke: #e0007a; stroke-width: 2px; }
footer { margin-top: 2.5em; color: #888; font-size: 0.85em; }
)";

}  // namespace

const char* attention_page_style() { return kPageStyle; }

namespace {

// `--json`: the characters and every weight, unrounded, nested as the
// explorer's POST /api/attention nests them: [layer][head][query][key].
std::string weights_json(const std::vector<HeadWeights>& heads, const std::u32string& chars, bool cropped) {
    nlohmann::json tokens = nlohmann::json::array(), attention = nlohmann::json::array();
    for (const char32_t c : chars) tokens.push_back(encode_utf8(std::u32string(1, c)));
    for (const HeadWeights& hw : heads) {
        if (hw.head == 0) attention.push_back(nlohmann::json::array());
        const std::size_t T = chars.size();
        nlohmann::json rows = nlohmann::json::array();
        for (std::size_t i = 0; i < T; ++i) rows.push_back(std::vector<Scalar>(&hw.wei(i, 0), &hw.wei(i, 0) + T));
        attention.back().push_back(std::move(rows));
    }
    return nlohmann::json{{"tokens", tokens}, {"cropped", cropped}, {"attention", attention}}.dump() + "\n";
}

}  // namespace

void attention_html(const std::string& checkpoint, const std::string& text, const std::string& out_path,
                    const std::string& json_out) {
    LoadedCheckpoint ck = load_checkpoint(checkpoint);
    if (analysis::list_heads(*ck.model).empty()) {
        throw Error(checkpoint + ": holds a '" + ck.model_type + "' model, which has no attention heads to draw");
    }
    const LanguageModel* model = ck.model.get();
    const GPTConfig& config = model->config;
    const std::u32string whole = decode_utf8(text, "--text");
    if (whole.empty()) throw Error("--text is empty: give at least one character to look at");
    ck.tokenizer.encode(whole, "--text");  // every character must be in the vocabulary
    // A text longer than block_size is cropped to its last block_size characters, as generate() crops the context.
    const bool cropped = whole.size() > config.block_size;
    const std::u32string chars = cropped ? whole.substr(whole.size() - config.block_size) : whole;
    const std::vector<std::int64_t> ids = ck.tokenizer.encode(chars, "--text");
    ck.model->eval();  // no dropout
    const std::vector<HeadWeights> heads = attention_weights(*model, ids);
    const std::vector<analysis::HeadScores> names = analysis::list_heads(*model);
    const std::size_t layers = heads.back().layer + 1;

    std::ostringstream page;
    page << "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
         << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
         << "<title>Attention of " << xml_escape(printable(basename_of(checkpoint))) << "</title>\n"
         << "<style>" << kPageStyle << "</style>\n</head>\n<body>\n";
    page << "<h1>What each attention head looks at</h1>\n";
    page << "<p class=\"meta\">" << xml_escape(printable(checkpoint)) << ": a '" << xml_escape(printable(ck.model_type))
         << "' model, " << layers << " layer" << (layers == 1 ? "" : "s") << " of attention, " << heads.size()
         << " head" << (heads.size() == 1 ? "" : "s") << ", n_embd " << config.n_embd << ", block_size "
         << config.block_size << ", " << config.vocab_size << " characters"
         << (ck.corpus.empty() ? "" : ", trained on " + xml_escape(printable(ck.corpus))) << "</p>\n";

    page << "<div class=\"tokens\" title=\"the text, one token (character) per box, with its position\">\n";
    for (std::size_t i = 0; i < chars.size(); ++i) {
        page << "<span class=\"tok\"><b>" << show_char(chars[i]) << "</b><i>" << i << "</i></span>";
    }
    page << "\n</div>\n";
    if (cropped) {
        page << "<p class=\"meta\">The text has " << whole.size() << " characters; the model sees at most block_size = "
             << config.block_size << ", so these are its last " << config.block_size
             << ", as <code>generate()</code> crops the context.</p>\n";
    }

    page << "<div class=\"explain\"><p>Each square is one head of self-attention reading this text. Row <i>i</i> is "
            "the <b>query</b>: the character at position <i>i</i>, looking back. Column <i>j</i> is the <b>key</b>: "
            "the character it looks at. A cell's colour is the weight <code>wei[i, j]</code> of "
            "<code>softmax</code> of the scaled scores <code>q\u00b7k\u1d40</code>, how much of row <i>i</i>'s output comes from position "
            "<i>j</i>'s value; every row sums to 1. The upper triangle "
            "<span class=\"masked\"></span> is empty: the causal mask (<code>tril</code>) keeps a character from "
            "seeing the ones after it. Hover a cell to read its weight. Spaces show as \u2423, newlines as \u23ce, "
            "tabs as \u21e5.</p></div>\n";
    page << "<div class=\"scale\"><span>attention weight</span><div><div class=\"bar\"></div><div class=\"ticks\">"
            "<span>0</span><span>0.25</span><span>0.5</span><span>0.75</span><span>1</span></div></div></div>\n";

    for (std::size_t i = 0; i < heads.size();) {
        const std::size_t l = heads[i].layer;
        const std::string& name = names[i].name;  // blocks.0.sa.heads.0, or sa_heads.0 in a stage without blocks
        const std::size_t dot = name.find(".sa.");
        page << "<section>\n<h2>layer " << l << " <span class=\"meta\">("
             << xml_escape(dot == std::string::npos ? name.substr(0, name.rfind('.')) : name.substr(0, dot))
             << ")</span></h2>\n<div class=\"heads\">\n";
        for (; i < heads.size() && heads[i].layer == l; ++i) page << heatmap_svg(heads[i], chars);
        page << "</div>\n</section>\n";
    }
    page << "<footer>Written by <code>xgrad attention</code>. The weights are those each <code>Head</code> computes in "
            "its own forward, in eval mode (no dropout).</footer>\n</body>\n</html>\n";
    safetensors::write_file_atomic(out_path, page.str());
    if (!json_out.empty()) safetensors::write_file_atomic(json_out, weights_json(heads, chars, cropped));
}

}  // namespace xgrad

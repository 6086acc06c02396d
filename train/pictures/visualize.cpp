// Pictures of a model for learners: what each attention head looks at (an
// HTML page of SVG heatmaps), how the loss fell (an SVG plot) and the graph
// the engine records for one forward pass (Graphviz DOT). Every picture is
// plain text written by hand here, self-contained (no scripts, no fonts, no
// network), and saved atomically.
#include "train/pictures/visualize.hpp"

#include "autograd/error.hpp"
#include "models/gpt.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/formats/safetensors.hpp"
#include "train/text/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <sys/stat.h>
#include <unordered_map>
#include <unordered_set>

namespace xgrad {

namespace {

// --- text that is safe to put in XML ----------------------------------------

std::string xml_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

// Bytes from outside (a file name, a line of a log) as printable UTF-8: bad
// UTF-8 and control characters become '?', so neither an XML page nor a
// one-line error message can be broken by them.
std::string printable(std::string_view bytes) {
    std::u32string chars;
    try {
        chars = decode_utf8(bytes, "");
    } catch (const Error&) {
        chars.clear();
        for (unsigned char c : bytes) chars += c < 0x80 ? char32_t(c) : U'?';
    }
    for (char32_t& c : chars) {
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) c = U'?';
    }
    return encode_utf8(chars);
}

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

std::string basename_of(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// printf-style number formatting, independent of the locale's decimal point.
std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}
std::string num(double v) { return fmt("%.1f", v); }  // an SVG coordinate

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

const char* const kFontSans = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Helvetica, Arial, sans-serif";
const char* const kFontMono = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace";

// =============================================================================
// xgrad attention
// =============================================================================

// One head's attention weights on the text: wei[i][j] is how much the
// character at position i (the query) takes from position j (the key).
struct HeadWeights {
    std::size_t layer = 0, head = 0;
    Array wei;  // (T,T), zero above the diagonal
};

// Walks the model as GPTLanguageModel::operator() does and, in each Block,
// recomputes what each Head computes up to its softmax (Head::operator()
// without dropout: the model is in eval mode).
std::vector<HeadWeights> attention_weights(const GPTLanguageModel& model, const std::vector<std::int64_t>& ids) {
    NoGradGuard no_grad;
    const std::size_t T = ids.size();
    Index idx = Index::from_shape({1, T});
    std::copy(ids.begin(), ids.end(), idx.begin());

    std::vector<HeadWeights> out;
    Tensor tok_emb = model.token_embedding_table(idx);          // (1,T,C)
    Tensor pos_emb = model.position_embedding_table(arange(T));  // (T,C)
    Tensor x = tok_emb + pos_emb;                                // (1,T,C)
    for (std::size_t l = 0; l < model.blocks.size(); ++l) {
        const Block& block = model.blocks[l];
        Tensor h = block.ln1(x);  // what the heads see: (1,T,C)
        for (std::size_t hd = 0; hd < block.sa.heads.size(); ++hd) {
            const Head& head = block.sa.heads[hd];
            Tensor k = head.key(h);    // (1,T,hs)
            Tensor q = head.query(h);  // (1,T,hs)
            Tensor wei = matmul(q, k.transpose(-2, -1)) * std::pow(Scalar(k.size(-1)), Scalar(-0.5));  // (1,T,T)
            Tensor tril_T = slice(slice(head.tril, 0, 0, T), 1, 0, T);                                  // tril[:T, :T]
            wei = wei.masked_fill(equal_zero(tril_T), -std::numeric_limits<Scalar>::infinity());        // (1,T,T)
            wei = softmax(wei, -1);                                                                     // (1,T,T)
            Array w = wei.data();
            w.reshape({T, T});
            out.push_back({l, hd, std::move(w)});
        }
        x = block(x);  // (1,T,C), the input of the next block
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

void attention_html(const std::string& checkpoint, const std::string& text, const std::string& out_path) {
    LoadedCheckpoint ck = load_checkpoint(checkpoint);
    const auto* model = dynamic_cast<const GPTLanguageModel*>(ck.model.get());
    if (!model) {
        throw Error(checkpoint + ": holds a '" + ck.model_type +
                    "' model; attention heatmaps need a GPT model with Blocks of heads (model 'gpt' or 'layernorm')");
    }
    const GPTConfig& config = model->config;
    const std::u32string chars = decode_utf8(text, "--text");
    if (chars.empty()) throw Error("--text is empty: give at least one character to look at");
    if (chars.size() > config.block_size) {
        throw Error("--text has " + std::to_string(chars.size()) + " characters but the model's block_size is " +
                    std::to_string(config.block_size) + ": give at most " + std::to_string(config.block_size));
    }
    const std::vector<std::int64_t> ids = ck.tokenizer.encode(chars, "--text");
    ck.model->eval();  // no dropout
    const std::vector<HeadWeights> heads = attention_weights(*model, ids);

    std::ostringstream page;
    page << "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
         << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
         << "<title>Attention of " << xml_escape(printable(basename_of(checkpoint))) << "</title>\n"
         << "<style>" << kPageStyle << "</style>\n</head>\n<body>\n";
    page << "<h1>What each attention head looks at</h1>\n";
    page << "<p class=\"meta\">" << xml_escape(printable(checkpoint)) << ": a '" << xml_escape(printable(ck.model_type))
         << "' model, " << config.n_layer << " layer" << (config.n_layer == 1 ? "" : "s") << " \u00d7 " << config.n_head
         << " head" << (config.n_head == 1 ? "" : "s") << ", n_embd " << config.n_embd << ", block_size "
         << config.block_size << ", " << config.vocab_size << " characters"
         << (ck.corpus.empty() ? "" : ", trained on " + xml_escape(printable(ck.corpus))) << "</p>\n";

    page << "<div class=\"tokens\" title=\"the text, one token (character) per box, with its position\">\n";
    for (std::size_t i = 0; i < chars.size(); ++i) {
        page << "<span class=\"tok\"><b>" << show_char(chars[i]) << "</b><i>" << i << "</i></span>";
    }
    page << "\n</div>\n";

    page << "<div class=\"explain\"><p>Each square is one head of self-attention reading this text. Row <i>i</i> is "
            "the <b>query</b>: the character at position <i>i</i>, looking back. Column <i>j</i> is the <b>key</b>: "
            "the character it looks at. A cell's colour is the weight <code>wei[i, j]</code> of "
            "<code>softmax(q\u00b7k\u1d40 / \u221ahs)</code>, how much of row <i>i</i>'s output comes from position "
            "<i>j</i>'s value; every row sums to 1. The upper triangle "
            "<span class=\"masked\"></span> is empty: the causal mask (<code>tril</code>) keeps a character from "
            "seeing the ones after it. Hover a cell to read its weight. Spaces show as \u2423, newlines as \u23ce, "
            "tabs as \u21e5.</p></div>\n";
    page << "<div class=\"scale\"><span>attention weight</span><div><div class=\"bar\"></div><div class=\"ticks\">"
            "<span>0</span><span>0.25</span><span>0.5</span><span>0.75</span><span>1</span></div></div></div>\n";

    std::size_t i = 0;
    for (std::size_t l = 0; l < config.n_layer; ++l) {
        page << "<section>\n<h2>layer " << l << " <span class=\"meta\">(blocks." << l << ")</span></h2>\n<div class=\"heads\">\n";
        for (std::size_t h = 0; h < config.n_head; ++h) page << heatmap_svg(heads[i++], chars);
        page << "</div>\n</section>\n";
    }
    page << "<footer>Written by <code>xgrad attention</code>. The weights are those of <code>Head</code> in eval mode "
            "(no dropout), on the block's input after <code>ln1</code>.</footer>\n</body>\n</html>\n";
    safetensors::write_file_atomic(out_path, page.str());
}

// =============================================================================
// xgrad plot
// =============================================================================

namespace {

struct Run {
    std::string path;
    std::vector<double> step, train, val;
};

// A line of a log quoted in an error: short, on one line, printable.
std::string excerpt(const std::string& line) {
    if (line.size() <= 60) return "'" + printable(line) + "'";
    std::size_t n = 60;
    while (n > 0 && (static_cast<unsigned char>(line[n]) & 0xC0) == 0x80) --n;  // cut between characters
    return "'" + printable(line.substr(0, n)) + "...'";
}

// The evaluation lines of a --log file, {"step", "train_loss", "val_loss", ...};
// lines with an "event" (the summary) are skipped.
Run read_log(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw Error(path + ": cannot open the log: " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory, not a log file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the log: " + std::strerror(errno));

    Run run;
    run.path = path;
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank
        const std::string where = path + ":" + std::to_string(n) + ": ";
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) throw Error(where + "not a JSON line: " + excerpt(line));
        if (!j.is_object()) throw Error(where + "expected a JSON object, got " + excerpt(line));
        if (j.contains("event")) continue;  // {"event":"done",...}
        double v[3];
        const char* keys[3] = {"step", "train_loss", "val_loss"};
        for (int k = 0; k < 3; ++k) {
            const auto it = j.find(keys[k]);
            if (it == j.end() || !it->is_number() || !std::isfinite(it->get<double>())) {
                throw Error(where + "an evaluation line needs the numbers \"step\", \"train_loss\" and \"val_loss\"; \"" +
                            keys[k] + "\" is " + (it == j.end() ? "missing" : "not a finite number"));
            }
            v[k] = it->get<double>();
        }
        run.step.push_back(v[0]), run.train.push_back(v[1]), run.val.push_back(v[2]);
    }
    if (in.bad()) throw Error(path + ": cannot read the log: " + std::strerror(errno));
    if (run.step.empty()) {
        throw Error(path + ": no evaluation lines (xgrad train --log writes one every --eval-interval steps when "
                           "--eval-iters is above 0)");
    }
    return run;
}

// Round tick spacing (1, 2 or 5 times a power of ten) giving about `target` ticks over `span`.
double nice_step(double span, int target) {
    const double raw = span / target;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

struct Axis {
    double lo, hi, step;
};
Axis nice_axis(double lo, double hi, int target, bool integers) {
    if (!(hi - lo > 1e-12)) {
        const double pad = integers ? 1.0 : std::max(std::abs(hi) * 0.1, 0.1);
        lo -= integers ? 0 : pad, hi += pad;
    }
    double step = nice_step(hi - lo, target);
    if (integers) step = std::max(step, 1.0);
    return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step};
}

std::string tick_label(double v, double step) {
    const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
    std::string s = fmt(("%." + std::to_string(decimals) + "f").c_str(), v);
    return s == "-0" ? "0" : s;
}

// Tableau's ten colours: distinct, and fine for most colour-blind readers.
const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

}  // namespace

void plot_losses(const std::vector<std::string>& logs, const std::string& out_path) {
    if (logs.empty()) throw Error("plot: give at least one --log file");
    std::vector<Run> runs;
    for (const std::string& path : logs) runs.push_back(read_log(path));

    // Legend names: the file names, or the whole paths when two share a name.
    std::vector<std::string> names;
    std::map<std::string, int> uses;
    for (const Run& r : runs) ++uses[basename_of(r.path)];
    for (const Run& r : runs) names.push_back(printable(uses[basename_of(r.path)] > 1 ? r.path : basename_of(r.path)));

    double smin = INFINITY, smax = -INFINITY, lmin = INFINITY, lmax = -INFINITY;
    std::size_t most_points = 0;
    for (const Run& r : runs) {
        for (std::size_t i = 0; i < r.step.size(); ++i) {
            smin = std::min(smin, r.step[i]), smax = std::max(smax, r.step[i]);
            lmin = std::min({lmin, r.train[i], r.val[i]}), lmax = std::max({lmax, r.train[i], r.val[i]});
        }
        most_points = std::max(most_points, r.step.size());
    }
    const Axis xa = nice_axis(std::min(smin, 0.0), smax, 6, true);
    const Axis ya = nice_axis(lmin, lmax, 6, false);

    const int W = 760, H = 460;
    const double x0 = 72, x1 = W - 24, y0 = 44, y1 = H - 58;  // the plot area
    auto X = [&](double s) { return x0 + (s - xa.lo) / (xa.hi - xa.lo) * (x1 - x0); };
    auto Y = [&](double l) { return y1 - (l - ya.lo) / (ya.hi - ya.lo) * (y1 - y0); };

    std::ostringstream s;
    s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " "
      << H << "\" font-family=\"" << kFontSans << "\">\n";
    s << "<title>train and val loss against step</title>\n";
    s << "<rect width=\"" << W << "\" height=\"" << H << "\" fill=\"#fff\"/>\n";
    s << "<text x=\"" << x0 << "\" y=\"26\" font-size=\"16\" font-weight=\"bold\" fill=\"#222\">Loss during training</text>\n";

    // grid, ticks and tick labels
    s << "<g font-size=\"12\" fill=\"#444\">\n";
    for (double v = ya.lo; v <= ya.hi + ya.step * 1e-6; v += ya.step) {
        const std::string y = num(Y(v));
        s << "<line x1=\"" << x0 << "\" y1=\"" << y << "\" x2=\"" << x1 << "\" y2=\"" << y << "\" stroke=\"#e6e6e6\"/>"
          << "<line x1=\"" << x0 - 5 << "\" y1=\"" << y << "\" x2=\"" << x0 << "\" y2=\"" << y << "\" stroke=\"#444\"/>"
          << "<text x=\"" << x0 - 8 << "\" y=\"" << y << "\" dy=\"0.35em\" text-anchor=\"end\">" << tick_label(v, ya.step)
          << "</text>\n";
    }
    for (double v = xa.lo; v <= xa.hi + xa.step * 1e-6; v += xa.step) {
        const std::string x = num(X(v));
        s << "<line x1=\"" << x << "\" y1=\"" << y0 << "\" x2=\"" << x << "\" y2=\"" << y1 << "\" stroke=\"#e6e6e6\"/>"
          << "<line x1=\"" << x << "\" y1=\"" << y1 << "\" x2=\"" << x << "\" y2=\"" << y1 + 5 << "\" stroke=\"#444\"/>"
          << "<text x=\"" << x << "\" y=\"" << y1 + 19 << "\" text-anchor=\"middle\">" << tick_label(v, xa.step)
          << "</text>\n";
    }
    s << "</g>\n";
    s << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << x1 - x0 << "\" height=\"" << y1 - y0
      << "\" fill=\"none\" stroke=\"#444\"/>\n";
    s << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << H - 16 << "\" font-size=\"13\" text-anchor=\"middle\" fill=\"#222\">step</text>\n";
    s << "<text transform=\"translate(20," << (y0 + y1) / 2
      << ") rotate(-90)\" font-size=\"13\" text-anchor=\"middle\" fill=\"#222\">loss (cross-entropy)</text>\n";

    // the curves: train solid, val dashed, one colour per run
    const bool markers = most_points <= 60;
    for (std::size_t r = 0; r < runs.size(); ++r) {
        const char* colour = kPalette[r % 10];
        for (int split = 0; split < 2; ++split) {
            const std::vector<double>& loss = split == 0 ? runs[r].train : runs[r].val;
            s << "<g><title>" << xml_escape(names[r]) << (split == 0 ? ": train loss" : ": val loss") << "</title>\n";
            s << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" stroke-linejoin=\"round\""
              << (split == 1 ? " stroke-dasharray=\"7 4\"" : "") << " points=\"";
            for (std::size_t i = 0; i < loss.size(); ++i) s << (i ? " " : "") << num(X(runs[r].step[i])) << "," << num(Y(loss[i]));
            s << "\"/>\n";
            if (markers) {
                for (std::size_t i = 0; i < loss.size(); ++i) {
                    s << "<circle cx=\"" << num(X(runs[r].step[i])) << "\" cy=\"" << num(Y(loss[i])) << "\" r=\"3\" fill=\""
                      << (split == 0 ? colour : "#fff") << "\" stroke=\"" << colour << "\" stroke-width=\"1.5\"><title>step "
                      << fmt("%.0f", runs[r].step[i]) << ": " << (split == 0 ? "train" : "val") << " " << fmt("%.4f", loss[i])
                      << "</title></circle>";
                }
                s << "\n";
            }
            s << "</g>\n";
        }
    }

    // the legend, top right, where falling curves leave room
    std::vector<std::string> rows;
    std::size_t widest = 10;
    for (std::size_t r = 0; r < runs.size(); ++r) {
        rows.push_back(names[r] + "  (val " + fmt("%.3f", runs[r].val.back()) + ")");
        widest = std::max(widest, decode_utf8(rows.back(), "").size());
    }
    const double row_h = 18, lw = 48 + 6.8 * static_cast<double>(widest), lh = row_h * static_cast<double>(rows.size() + 1) + 12;
    const double lx = x1 - lw - 10, ly = y0 + 10;
    s << "<g font-size=\"12\" fill=\"#222\">\n<rect x=\"" << num(lx) << "\" y=\"" << num(ly) << "\" width=\"" << num(lw)
      << "\" height=\"" << num(lh) << "\" rx=\"4\" fill=\"#fff\" fill-opacity=\"0.9\" stroke=\"#ccc\"/>\n";
    for (std::size_t r = 0; r <= rows.size(); ++r) {
        const double y = ly + 6 + row_h * (static_cast<double>(r) + 0.5);
        if (r < rows.size()) {
            s << "<line x1=\"" << num(lx + 10) << "\" y1=\"" << num(y) << "\" x2=\"" << num(lx + 38) << "\" y2=\"" << num(y)
              << "\" stroke=\"" << kPalette[r % 10] << "\" stroke-width=\"3\"/><text x=\"" << num(lx + 46) << "\" y=\""
              << num(y) << "\" dy=\"0.35em\">" << xml_escape(rows[r]) << "</text>\n";
        } else {  // which line is which split
            s << "<line x1=\"" << num(lx + 10) << "\" y1=\"" << num(y) << "\" x2=\"" << num(lx + 38) << "\" y2=\"" << num(y)
              << "\" stroke=\"#555\" stroke-width=\"2\"/><text x=\"" << num(lx + 46) << "\" y=\"" << num(y)
              << "\" dy=\"0.35em\" fill=\"#555\">train</text>"
              << "<line x1=\"" << num(lx + 96) << "\" y1=\"" << num(y) << "\" x2=\"" << num(lx + 124) << "\" y2=\"" << num(y)
              << "\" stroke=\"#555\" stroke-width=\"2\" stroke-dasharray=\"7 4\"/><text x=\"" << num(lx + 132) << "\" y=\""
              << num(y) << "\" dy=\"0.35em\" fill=\"#555\">val</text>\n";
        }
    }
    s << "</g>\n</svg>\n";
    safetensors::write_file_atomic(out_path, s.str());
}

// =============================================================================
// xgrad graph
// =============================================================================

namespace {

// A DOT string literal: quotes and backslashes escaped, other control
// characters shown as '?', and a newline turned into DOT's line break "\\n".
std::string dot_quote(const std::string& s) {
    std::string out = "\"";
    std::size_t start = 0;
    while (true) {
        const std::size_t end = s.find('\n', start);
        for (char c : printable(s.substr(start, end == std::string::npos ? std::string::npos : end - start))) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        if (end == std::string::npos) break;
        out += "\\n";
        start = end + 1;
    }
    return out + "\"";
}

}  // namespace

void graph_dot(const std::string& checkpoint, const std::string& out_path) {
    LoadedCheckpoint ck = load_checkpoint(checkpoint);
    LanguageModel& model = *ck.model;
    model.eval();  // no dropout nodes
    const GPTConfig& config = model.config;

    // A small batch: B=1, T=min(block_size, 8), tokens 0..T-1 (mod vocab), targets shifted by one.
    const std::size_t T = std::min<std::size_t>(config.block_size, 8);
    Index x = Index::from_shape({1, T}), y = Index::from_shape({1, T});
    for (std::size_t t = 0; t < T; ++t) {
        x(0, t) = static_cast<std::int64_t>(t % config.vocab_size);
        y(0, t) = static_cast<std::int64_t>((t + 1) % config.vocab_size);
    }
    if (!grad_enabled()) throw Error("graph: grad mode is off, so no graph would be recorded");
    Tensor loss = model(x, y).loss;  // the graph stays alive: no backward()

    std::unordered_map<const Node*, std::string> param_name;
    for (const auto& [name, p] : model.named_parameters()) param_name[p.node()] = name;

    // Every node reachable from the loss by its parents, parents before children
    // (an iterative depth-first walk: the graph is deep).
    std::vector<const Node*> order;
    std::unordered_map<const Node*, std::size_t> id;
    std::unordered_set<const Node*> seen{loss.node()};
    std::vector<std::pair<const Node*, std::size_t>> stack{{loss.node(), 0}};
    while (!stack.empty()) {
        const Node* n = stack.back().first;
        const std::size_t next = stack.back().second;
        if (next < n->parents.size()) {
            ++stack.back().second;
            const Node* p = n->parents[next].get();
            if (seen.insert(p).second) stack.emplace_back(p, 0);
        } else {
            id[n] = order.size();
            order.push_back(n);
            stack.pop_back();
        }
    }

    std::size_t params = 0;
    for (const Node* n : order) params += param_name.count(n);
    std::ostringstream s;
    s << "// The autograd graph of one forward pass and loss, written by `xgrad graph`.\n"
      << "// Render it with: dot -Tsvg " << printable(basename_of(out_path)) << " -o graph.svg\n";
    s << "digraph autograd {\n";
    s << "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=14, labelloc=t, label="
      << dot_quote("autograd graph of " + basename_of(checkpoint) + " ('" + ck.model_type + "'): forward and loss on B=1, T=" +
                   std::to_string(T) + "; " + std::to_string(order.size()) + " nodes, " + std::to_string(params) +
                   " of them parameters")
      << "];\n";
    s << "  node [fontname=\"Helvetica\", fontsize=10, style=filled, fillcolor=\"#eef3fb\", color=\"#7a8ca8\"];\n";
    s << "  edge [color=\"#888888\", arrowsize=0.6];\n";
    for (const Node* n : order) {
        const std::string shape = shape_str(n->shape());
        s << "  \"n" << id[n] << "\" [";
        if (const auto it = param_name.find(n); it != param_name.end()) {
            s << "label=" << dot_quote(it->second + "\n" + shape) << ", shape=box, fillcolor=\"#e3f2d9\", "
              << "color=\"#6a9a4e\", tooltip=" << dot_quote(std::string("parameter (") + n->op + ")");
        } else {
            s << "label=" << dot_quote(std::string(n->op) + "\n" + shape) << ", tooltip=" << dot_quote(n->op);
            if (n->parents.empty()) s << ", shape=box, style=\"filled,dashed\"";  // a leaf that is not a parameter
            if (n == loss.node()) s << ", fillcolor=\"#fbe0e0\", color=\"#b04a4a\", peripheries=2";
        }
        s << "];\n";
    }
    for (const Node* n : order) {
        for (const auto& p : n->parents) s << "  \"n" << id[p.get()] << "\" -> \"n" << id[n] << "\";\n";
    }
    s << "}\n";
    safetensors::write_file_atomic(out_path, s.str());
}

}  // namespace xgrad

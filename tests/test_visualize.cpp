// The pictures (train/pictures/): the attention page, the loss plot and
// the autograd graph, on a small GPT built in memory. The pages are checked
// as XML by a small well-formedness checker (tested first: it must catch an
// unclosed tag), the attention weights against a computation by plain loops,
// and the graph by counting its nodes per op.
#include "autograd/error.hpp"
#include "models/gpt.hpp"
#include "train/formats/checkpoint.hpp"
#include "models/hooks.hpp"
#include "train/pictures/attention.hpp"
#include "train/pictures/graph.hpp"
#include "train/pictures/loss_plot.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <unistd.h>

using namespace xgrad;
namespace fs = std::filesystem;

namespace {

// A temp folder for this run, removed when the program ends.
struct TempDir {
    fs::path path = fs::temp_directory_path() / ("xgrad_test_visualize_" + std::to_string(::getpid()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
};
const fs::path& viz_dir() {
    static const TempDir dir;
    return dir.path;
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}
void write_all(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
    return n;
}

// --- a small well-formedness checker ------------------------------------------

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.'; }

// An entity reference at s[i] == '&': &amp; &lt; &gt; &quot; &apos; &#N; &#xH;
bool entity_ok(const std::string& s, std::size_t i) {
    const std::size_t semi = s.find(';', i);
    if (semi == std::string::npos || semi - i > 10) return false;
    const std::string e = s.substr(i + 1, semi - i - 1);
    if (e == "amp" || e == "lt" || e == "gt" || e == "quot" || e == "apos") return true;
    if (e.size() >= 2 && e[0] == '#') {
        const bool hex = e[1] == 'x';
        const std::string digits = e.substr(hex ? 2 : 1);
        if (digits.empty()) return false;
        for (char c : digits) {
            if (!(hex ? std::isxdigit(static_cast<unsigned char>(c)) : std::isdigit(static_cast<unsigned char>(c)))) return false;
        }
        return true;
    }
    return false;
}

// "" when `s` is well-formed XML (as much of XML as our pages use: elements,
// quoted attributes, entities, comments, a declaration and a doctype), else
// what is wrong and where.
std::string xml_problem(const std::string& s) {
    std::vector<std::string> open;
    bool had_root = false;
    std::size_t i = 0;
    auto at = [&](std::size_t k) { return " at byte " + std::to_string(k); };
    auto skip_space = [&] {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    };
    while (i < s.size()) {
        const char c = s[i];
        if (c == '&') {
            if (!entity_ok(s, i)) return "bad '&'" + at(i);
            ++i;
            continue;
        }
        if (c != '<') {
            if (open.empty() && !std::isspace(static_cast<unsigned char>(c))) return "text outside the root" + at(i);
            ++i;
            continue;
        }
        bool special = false;  // a comment, the <?xml ...?> declaration or the doctype
        for (auto [start, end] : {std::pair{"<!--", "-->"}, std::pair{"<?", "?>"}, std::pair{"<!DOCTYPE", ">"}}) {
            if (s.compare(i, std::strlen(start), start) != 0) continue;
            const std::size_t e = s.find(end, i + std::strlen(start));
            if (e == std::string::npos) return std::string("unclosed ") + start + at(i);
            i = e + std::strlen(end);
            special = true;
            break;
        }
        if (special) continue;
        {
            const std::size_t tag = i;
            const bool closing = i + 1 < s.size() && s[i + 1] == '/';
            i += closing ? 2 : 1;
            const std::size_t name_at = i;
            if (i >= s.size() || !name_start(s[i])) return "bad tag name" + at(tag);
            while (i < s.size() && name_char(s[i])) ++i;
            const std::string name = s.substr(name_at, i - name_at);
            if (closing) {
                skip_space();
                if (i >= s.size() || s[i] != '>') return "bad closing tag </" + name + at(tag);
                ++i;
                if (open.empty() || open.back() != name) {
                    return "</" + name + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">") + at(tag);
                }
                open.pop_back();
                continue;
            }
            if (open.empty() && had_root) return "a second root <" + name + ">" + at(tag);
            std::vector<std::string> attrs;
            while (true) {
                const std::size_t before = i;
                skip_space();
                if (i >= s.size()) return "unclosed tag <" + name + at(tag);
                if (s[i] == '>') {
                    ++i;
                    open.push_back(name);
                    had_root = true;
                    break;
                }
                if (s[i] == '/') {
                    if (i + 1 >= s.size() || s[i + 1] != '>') return "bad '/' in <" + name + at(i);
                    i += 2;
                    had_root = had_root || open.empty();
                    break;
                }
                if (i == before) return "no space before an attribute in <" + name + at(i);
                const std::size_t attr_at = i;
                if (!name_start(s[i])) return "bad attribute in <" + name + at(i);
                while (i < s.size() && name_char(s[i])) ++i;
                const std::string attr = s.substr(attr_at, i - attr_at);
                if (std::find(attrs.begin(), attrs.end(), attr) != attrs.end()) return "attribute " + attr + " twice" + at(i);
                attrs.push_back(attr);
                skip_space();
                if (i >= s.size() || s[i] != '=') return "attribute " + attr + " without a value" + at(i);
                ++i;
                skip_space();
                if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return "unquoted attribute " + attr + at(i);
                const char quote = s[i];
                const std::size_t end = s.find(quote, i + 1);
                if (end == std::string::npos) return "unclosed attribute " + attr + at(i);
                for (std::size_t k = i + 1; k < end; ++k) {
                    if (s[k] == '<') return "'<' in attribute " + attr + at(k);
                    if (s[k] == '&' && !entity_ok(s, k)) return "bad '&' in attribute " + attr + at(k);
                }
                i = end + 1;
            }
        }
    }
    if (!open.empty()) return "unclosed <" + open.back() + "> at the end";
    if (!had_root) return "no root element";
    return "";
}

// The <svg ...>...</svg> elements of a page, in order (they do not nest in ours).
std::vector<std::string> svg_elements(const std::string& page) {
    std::vector<std::string> out;
    for (std::size_t at = page.find("<svg"); at != std::string::npos; at = page.find("<svg", at + 1)) {
        const std::size_t end = page.find("</svg>", at);
        out.push_back(page.substr(at, end == std::string::npos ? std::string::npos : end + 6 - at));
    }
    return out;
}

// --- a small GPT on disk ----------------------------------------------------------

const std::u32string kVocab = U"The cat sat on the mat.\n\t&<>\"'";

GPTConfig small_config() { return GPTConfig{Tokenizer::from_text(kVocab).vocab_size(), 32, 16, 2, 2, 0.0}; }

// A GPT with large random weights (LayerNorm weights near 1), so attention is
// far from uniform and a wrong recipe shows; saved once per test run.
std::string small_checkpoint() {
    static const std::string path = [] {
        GPTLanguageModel model(small_config());
        std::mt19937 gen(7);
        std::normal_distribution<double> normal(0.0, 0.5);
        for (auto [name, p] : model.named_parameters()) {
            const bool norm_weight = name.find("ln") != std::string::npos && name.find(".weight") != std::string::npos;
            for (Scalar& v : p.data()) v = static_cast<Scalar>((norm_weight ? 1.0 : 0.0) + normal(gen));
        }
        const std::string p = (viz_dir() / "small.safetensors").string();
        save_checkpoint(model, "gpt", Tokenizer::from_text(kVocab), "test", p);
        return p;
    }();
    return path;
}

// The weights each head computes, from the model's own forward
// (AttentionCapture, models/hooks.hpp): what the page must show. That the
// capture is Head's real attention is tested in tests/test_models.cpp, and
// against PyTorch's in tests/test_heads.cpp.
std::vector<Array> model_attention(const std::string& checkpoint, const std::u32string& text) {
    LoadedCheckpoint ck = load_checkpoint(checkpoint);
    ck.model->eval();
    NoGradGuard no_grad;
    const std::vector<std::int64_t> ids = ck.tokenizer.encode(text);
    Index idx = Index::from_shape({1, ids.size()});
    std::copy(ids.begin(), ids.end(), idx.begin());
    AttentionCapture capture;
    (*ck.model)(idx);
    std::vector<Array> out;
    for (const Tensor& w : capture.weights) {
        Array a = w.data();
        a.reshape({ids.size(), ids.size()});
        out.push_back(a);
    }
    return out;
}

// The weights a heatmap shows, read back from its cells' tooltips
// "query I c -> key J c: W"; -1 where there is no cell.
std::vector<std::vector<double>> heatmap_weights(const std::string& svg, std::size_t T) {
    std::vector<std::vector<double>> w(T, std::vector<double>(T, -1.0));
    for (std::size_t at = svg.find("<title>query "); at != std::string::npos; at = svg.find("<title>query ", at + 1)) {
        const std::size_t end = svg.find("</title>", at);
        const std::string title = svg.substr(at + 13, end - at - 13);
        const std::size_t i = std::stoul(title);
        const std::size_t j = std::stoul(title.substr(title.find(" key ") + 5));
        const double v = std::stod(title.substr(title.rfind(": ") + 2));
        REQUIRE(i < T);
        REQUIRE(j < T);
        w[i][j] = v;
    }
    return w;
}

}  // namespace

TEST_CASE("visualize: the XML checker catches what it must") {
    CHECK(xml_problem("<svg><g/><text x=\"1\">a &amp; b</text></svg>") == "");
    CHECK(xml_problem("<?xml version=\"1.0\"?>\n<!DOCTYPE html>\n<html><!-- <b> --><p>x</p></html>\n") == "");
    CHECK(xml_problem("<svg><g></svg>") != "");          // an unclosed tag inside
    CHECK(xml_problem("<svg><g>") != "");                // unclosed at the end
    CHECK(xml_problem("<a></b>") != "");                 // mismatched
    CHECK(xml_problem("<a x=1/>") != "");                // unquoted attribute
    CHECK(xml_problem("<a x=\"1\" x=\"2\"/>") != "");    // an attribute twice
    CHECK(xml_problem("<a>a & b</a>") != "");            // a bare ampersand
    CHECK(xml_problem("<a>x < y</a>") != "");            // a bare '<'
    CHECK(xml_problem("<a title=\"<\"/>") != "");        // '<' in an attribute
    CHECK(xml_problem("<a/><b/>") != "");                // two roots
    CHECK(xml_problem("<a><!-- x </a>") != "");          // an unclosed comment
    CHECK(xml_problem("") != "");
}

TEST_CASE("visualize: attention page has one heatmap per head, with the model's weights") {
    const GPTConfig config = small_config();
    const std::u32string text = U"The cat sat on the mat";
    const fs::path out = viz_dir() / "attention.html";
    attention_html(small_checkpoint(), encode_utf8(text), out.string());
    const std::string page = read_all(out);

    CHECK_MESSAGE(xml_problem(page) == "", xml_problem(page));
    const std::vector<std::string> svgs = svg_elements(page);
    REQUIRE(svgs.size() == config.n_layer * config.n_head);
    CHECK(count(page, "<svg") == config.n_layer * config.n_head);
    CHECK(page.find("<script") == std::string::npos);  // self-contained: nothing to fetch
    CHECK(page.find("http://") == page.find("http://www.w3.org"));
    CHECK(page.find("https://") == std::string::npos);
    CHECK(page.find("\u2423") != std::string::npos);  // the spaces, visible

    const std::vector<Array> reference = model_attention(small_checkpoint(), text);
    REQUIRE(reference.size() == svgs.size());
    const std::size_t T = text.size();
    for (std::size_t n = 0; n < svgs.size(); ++n) {
        const std::string name = "layer " + std::to_string(n / config.n_head) + ", head " + std::to_string(n % config.n_head);
        CAPTURE(name);
        CHECK_MESSAGE(xml_problem(svgs[n]) == "", xml_problem(svgs[n]));
        CHECK(svgs[n].find(">" + name + "<") != std::string::npos);
        CHECK(count(svgs[n], "<rect ") == T * (T + 1) / 2 + 1);  // the lower triangle and the outline
        const auto w = heatmap_weights(svgs[n], T);
        double worst = 0, row_error = 0;
        for (std::size_t i = 0; i < T; ++i) {
            double row = 0;
            for (std::size_t j = 0; j < T; ++j) {
                if (j > i) {
                    CHECK(w[i][j] == -1.0);  // the masked future has no cell
                    continue;
                }
                worst = std::max(worst, std::abs(w[i][j] - double(reference[n](i, j))));
                row += w[i][j];
            }
            row_error = std::max(row_error, std::abs(row - 1.0));
        }
        CHECK(worst < 2e-4);  // the page prints 4 decimals
        CHECK(row_error < 1e-4 * double(T));
        // attention that is far from uniform, so the comparison means something
        double spread = 0;
        for (std::size_t j = 0; j < T; ++j) spread = std::max(spread, w[T - 1][j]);
        CHECK(spread > 2.0 / double(T));
    }
}

TEST_CASE("visualize: a text longer than block_size is cropped to its last block_size characters, and the page says so") {
    const fs::path out = viz_dir() / "cropped.html";
    const std::string text = std::string(10, 'c') + std::string(32, 'a');  // 42 characters, block_size 32
    attention_html(small_checkpoint(), text, out.string());
    const std::string page = read_all(out);
    CHECK(page.find("The text has 42 characters; the model sees at most block_size = 32, so these are its last 32") !=
          std::string::npos);
    const std::vector<std::string> svgs = svg_elements(page);
    REQUIRE_FALSE(svgs.empty());
    CHECK(count(svgs[0], "<rect ") == 32 * 33 / 2 + 1);
    CHECK(page.find("<b>c</b>") == std::string::npos);  // the cropped characters are not shown
}

TEST_CASE("visualize: attention escapes the characters XML cares about") {
    const fs::path out = viz_dir() / "escapes.html";
    attention_html(small_checkpoint(), "a<t>&\"c'\n\t", out.string());
    const std::string page = read_all(out);
    CHECK_MESSAGE(xml_problem(page) == "", xml_problem(page));
    CHECK(count(page, "<svg") == 4);
    CHECK(page.find("&lt;") != std::string::npos);
    CHECK(page.find("&amp;") != std::string::npos);
    CHECK(page.find("\u23CE") != std::string::npos);  // newline
    CHECK(page.find("\u21E5") != std::string::npos);  // tab
}

TEST_CASE("visualize: attention errors") {
    const std::string ck = small_checkpoint();
    const fs::path out = viz_dir() / "bad.html";
    // a character outside the vocabulary: the tokenizer's error
    CHECK_THROWS_WITH_AS(attention_html(ck, "The dog", out.string()), doctest::Contains("not in the model's vocabulary"), Error);
    CHECK_THROWS_WITH_AS(attention_html(ck, "", out.string()), doctest::Contains("--text is empty"), Error);
    CHECK_THROWS_AS(attention_html(ck, "cat", (viz_dir() / "no_such_dir" / "a.html").string()), Error);
    CHECK_FALSE(fs::exists(out));
    CHECK_FALSE(fs::exists(viz_dir() / "no_such_dir"));

    // a model without Blocks of heads
    GPTConfig config = small_config();
    const std::string bigram = (viz_dir() / "bigram.safetensors").string();
    save_checkpoint(*make_model("bigram", config), "bigram", Tokenizer::from_text(kVocab), "test", bigram);
    CHECK_THROWS_WITH_AS(attention_html(bigram, "cat", out.string()), doctest::Contains("'bigram' model"), Error);
    CHECK_FALSE(fs::exists(out));
}

TEST_CASE("visualize: plot draws every log, train and val") {
    const fs::path a = viz_dir() / "run_a.jsonl", b = viz_dir() / "run_b.jsonl";
    write_all(a,
              "{\"elapsed_s\":0.1,\"step\":0,\"tokens_per_s\":0.0,\"train_loss\":4.2,\"val_loss\":4.21}\n"
              "{\"elapsed_s\":1.2,\"step\":100,\"tokens_per_s\":900.0,\"train_loss\":2.5,\"val_loss\":2.6}\n"
              "\n"
              "{\"elapsed_s\":2.2,\"step\":200,\"tokens_per_s\":900.0,\"train_loss\":2.0,\"val_loss\":2.2}\n"
              "{\"event\":\"done\",\"steps\":200,\"final_train_loss\":null}\n");
    write_all(b,
              "{\"step\":0,\"train_loss\":4.1,\"val_loss\":4.1}\n"
              "{\"step\":150,\"train_loss\":1.5,\"val_loss\":1.9}\n");
    const fs::path out = viz_dir() / "loss.svg";
    plot_losses({a.string(), b.string()}, out.string());
    const std::string svg = read_all(out);
    CHECK_MESSAGE(xml_problem(svg) == "", xml_problem(svg));
    CHECK(count(svg, "<svg") == 1);
    CHECK(count(svg, "<polyline") == 4);  // two runs, train and val each
    CHECK(count(svg, "stroke-dasharray") == 3);  // two val curves and the legend's key
    CHECK(svg.find(">run_a.jsonl") != std::string::npos);  // the legend
    CHECK(svg.find(">run_b.jsonl") != std::string::npos);
    CHECK(svg.find(">step<") != std::string::npos);  // the axes' labels
    CHECK(svg.find(">loss (cross-entropy)<") != std::string::npos);
    CHECK(count(svg, "<circle") == 10);  // one marker per evaluation

    // one run alone, and one evaluation alone, still make a plot
    write_all(b, "{\"step\":0,\"train_loss\":4.1,\"val_loss\":4.1}\n");
    plot_losses({b.string()}, out.string());
    CHECK(xml_problem(read_all(out)) == "");
}

TEST_CASE("visualize: plot errors name the file and the line") {
    const fs::path out = viz_dir() / "bad_loss.svg";
    const fs::path bad = viz_dir() / "not_json.jsonl";
    write_all(bad, "{\"step\":0,\"train_loss\":4.1,\"val_loss\":4.1}\nstep 10: train loss 3.1\n");
    CHECK_THROWS_WITH_AS(plot_losses({bad.string()}, out.string()), doctest::Contains("not_json.jsonl:2: not a JSON line"),
                         Error);
    write_all(bad, "{\"step\":0,\"train_loss\":4.1}\n");
    CHECK_THROWS_WITH_AS(plot_losses({bad.string()}, out.string()), doctest::Contains("not_json.jsonl:1: "), Error);
    write_all(bad, "[1, 2]\n");
    CHECK_THROWS_WITH_AS(plot_losses({bad.string()}, out.string()), doctest::Contains("not_json.jsonl:1: "), Error);
    write_all(bad, "{\"event\":\"done\",\"steps\":0}\n");
    CHECK_THROWS_WITH_AS(plot_losses({bad.string()}, out.string()), doctest::Contains("no evaluation lines"), Error);
    CHECK_THROWS_WITH_AS(plot_losses({(viz_dir() / "missing.jsonl").string()}, out.string()),
                         doctest::Contains("missing.jsonl: cannot open"), Error);
    CHECK_FALSE(fs::exists(out));
}

TEST_CASE("visualize: graph has one DOT node per op of the forward pass") {
    const GPTConfig config = small_config();
    const fs::path out = viz_dir() / "graph.dot";
    graph_dot(small_checkpoint(), out.string());
    const std::string dot = read_all(out);

    // node lines: "nK" [label="OP\n(shape)", ...]; edges: "nA" -> "nB";
    std::map<std::string, std::size_t> ops;
    std::set<std::string> ids;
    std::size_t edges = 0;
    bool edges_ok = true;
    std::istringstream lines(dot);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("  \"n", 0) != 0) continue;
        const std::string id = line.substr(2, line.find('"', 3) - 1);
        if (line.find(" -> ") != std::string::npos) {
            ++edges;
            const std::string to = line.substr(line.find(" -> ") + 4, line.rfind('"') - line.find(" -> ") - 3);
            edges_ok = edges_ok && ids.count(id) && ids.count(to);  // parents come first
            continue;
        }
        CHECK(ids.insert(id).second);  // one line per node
        const std::size_t label = line.find("label=\"") + 7;
        ops[line.substr(label, line.find("\\n", label) - label)]++;
    }
    CHECK(edges_ok);
    CHECK(edges > ids.size() - 1);
    const std::size_t heads = config.n_layer * config.n_head;
    CHECK(ops["softmax"] == heads);
    CHECK(ops["masked_fill"] == heads);
    CHECK(ops["matmul"] == 2 * heads);
    CHECK(ops["cross_entropy"] == 1);
    CHECK(ops["layer_norm"] == 2 * config.n_layer + 1);
    CHECK(ops["relu"] == config.n_layer);
    CHECK(ops["dropout"] == 0);  // eval mode
    CHECK(ops["leaf"] == 0);     // every leaf is a parameter, shown by its name
    LoadedCheckpoint ck = load_checkpoint(small_checkpoint());
    for (const auto& [name, p] : ck.model->named_parameters()) CHECK_MESSAGE(ops[name] == 1, name);
    CHECK(dot.find("\"n0\" [label=\"token_embedding_table.weight\\n(" + std::to_string(config.vocab_size) + ",16)\"") !=
          std::string::npos);

    // balanced braces and quotes
    int depth = 0;
    bool quoted = false;
    for (std::size_t i = 0; i < dot.size(); ++i) {
        if (quoted && dot[i] == '\\') ++i;
        else if (dot[i] == '"') quoted = !quoted;
        else if (!quoted && dot[i] == '{') ++depth;
        else if (!quoted && dot[i] == '}') CHECK(--depth >= 0);
    }
    CHECK(depth == 0);
    CHECK_FALSE(quoted);
    CHECK(dot.find("digraph autograd {") != std::string::npos);

    CHECK_THROWS_AS(graph_dot(small_checkpoint(), (viz_dir() / "nope" / "g.dot").string()), Error);
    CHECK_THROWS_WITH_AS(graph_dot((viz_dir() / "missing.safetensors").string(), out.string()),
                         doctest::Contains("missing.safetensors"), Error);
}


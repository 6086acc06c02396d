// `xgrad heads` (heads.hpp): runs the model on the windows with an
// AttentionCapture and HeadGates (models/hooks.hpp), so every number comes
// from the model's own forward, then scores each head (head_scores.hpp).
#include "train/analysis/heads.hpp"

#include "autograd/error.hpp"
#include "autograd/random.hpp"
#include "models/hooks.hpp"
#include "train/analysis/head_scores.hpp"
#include "train/text/corpus.hpp"

#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace xgrad::analysis {

namespace {

bool is_space(char32_t c) { return c == U' ' || c == U'\n' || c == U'\t' || c == U'\r' || c == U'\f' || c == U'\v'; }

// The windows: row w holds characters [w T, w T + T), its targets the next ones.
std::pair<Index, Index> windows_of(const std::vector<std::int64_t>& ids, std::size_t N, std::size_t T) {
    Index x = Index::from_shape({N, T}), y = Index::from_shape({N, T});
    for (std::size_t w = 0; w < N; ++w) {
        for (std::size_t t = 0; t < T; ++t) {
            x(w, t) = ids[w * T + t];
            y(w, t) = ids[w * T + t + 1];
        }
    }
    return {x, y};
}

// Window w of one head's captured weights (N, T, T), as a (T, T) array.
Array window(const Tensor& weights, std::size_t w) {
    const std::size_t T = weights.shape()[1];
    Array a = Array::from_shape({T, T});
    std::copy_n(weights.data().data() + w * T * T, T * T, a.data());
    return a;
}

// The mean of a score over the windows, skipping windows where it is not
// defined (NaN: a window with no position inside a word).
template <class F>
double over_windows(const std::vector<Array>& windows, F score) {
    double total = 0;
    std::size_t n = 0;
    for (const Array& a : windows) {
        const double v = score(a);
        if (!std::isnan(v)) total += v, ++n;
    }
    return n ? total / static_cast<double>(n) : std::nan("");
}

std::string role_of(const HeadScores& h, const HeadScores& uniform) {
    if (h.previous_token >= 0.5) return "previous-token";
    if (h.first_token >= 0.5) return "first-token";
    if (h.self >= 0.5) return "self";
    if (h.word_start >= 0.5) return "word-start";
    if (h.induction >= 0.4) return "induction";
    if (h.mean_distance >= uniform.mean_distance) return "long-range";
    if (h.entropy >= 0.9) return "diffuse";
    return "mixed";
}

}  // namespace

// The engine's cross_entropy over positions [from, to) of one sequence's logits (1, T, V).
double loss_of_positions(const Array& logits, const Index& targets, std::size_t from, std::size_t to) {
    const std::size_t V = logits.shape()[2], n = to - from;
    Array rows = Array::from_shape({n, V});
    std::copy_n(logits.data() + from * V, n * V, rows.data());
    Index wanted = Index::from_shape({n});
    for (std::size_t i = 0; i < n; ++i) wanted(i) = targets(0, from + i);
    NoGradGuard no_grad;
    return cross_entropy(Tensor(rows), wanted).item();
}

std::vector<Tensor> capture_attention(const LanguageModel& model, const Index& idx, std::size_t expected, Array* logits) {
    NoGradGuard no_grad;
    AttentionCapture capture;
    const Tensor out = model(idx).logits;
    if (capture.weights.size() != expected) {
        throw Error("the model ran " + std::to_string(capture.weights.size()) + " heads, expected " + std::to_string(expected));
    }
    if (logits) *logits = out.data();
    return capture.weights;
}

std::string role_rules() {
    return "roles, the first that holds: previous-token if previous_token >= 0.5; first-token if first_token >= 0.5; "
           "self if self >= 0.5; word-start if word_start >= 0.5; induction if induction >= 0.4; long-range if "
           "mean_distance >= uniform attention's; diffuse if entropy >= 0.9; else mixed";
}

std::vector<HeadScores> list_heads(const LanguageModel& model) {
    // Every Head has a tril buffer: "blocks.1.sa.heads.2.tril", "sa_heads.3.tril", "sa_head.tril".
    std::vector<HeadScores> heads;
    std::size_t layer = 0, in_layer = 0;
    std::string last_layer;
    for (const auto& [key, t] : model.named_buffers()) {
        const std::string suffix = ".tril";
        if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
        HeadScores h;
        h.name = key.substr(0, key.size() - suffix.size());
        // the layer: what comes before ".sa." (blocks.1), one layer for the stages without blocks
        const std::size_t sa = h.name.find(".sa.");
        const std::string this_layer = sa == std::string::npos ? "" : h.name.substr(0, sa);
        if (!heads.empty() && this_layer != last_layer) ++layer, in_layer = 0;
        last_layer = this_layer;
        h.layer = layer;
        h.head = in_layer++;
        heads.push_back(h);
    }
    return heads;
}

std::pair<std::size_t, std::size_t> parse_head(const std::string& text, const std::vector<HeadScores>& heads) {
    const std::size_t dot = text.find('.');
    std::size_t layer = 0, head = 0;
    bool ok = dot != std::string::npos && dot > 0 && dot + 1 < text.size();
    for (std::size_t i = 0; ok && i < text.size(); ++i) ok = i == dot || std::isdigit(static_cast<unsigned char>(text[i]));
    if (ok) {
        layer = std::stoul(text.substr(0, dot));
        head = std::stoul(text.substr(dot + 1));
        for (const HeadScores& h : heads) {
            if (h.layer == layer && h.head == head) return {layer, head};
        }
    }
    std::string known = heads.empty() ? "none" : "0.0 to " + std::to_string(heads.back().layer) + "." +
                                                     std::to_string(heads.back().head);
    throw Error("--ablate: no head '" + text + "' (write LAYER.HEAD; this model's heads are " + known + ")");
}

double loss_with_gates(const LanguageModel& model, const Index& idx, const Index& targets,
                       const std::vector<Scalar>& gates) {
    NoGradGuard no_grad;
    if (gates.empty()) return model(idx, targets).loss.item();
    HeadGates g(gates.size());
    for (std::size_t k = 0; k < gates.size(); ++k) g.gate[k].data()(0) = gates[k];
    return model(idx, targets).loss.item();
}

namespace {

std::vector<bool> spaces_of(const std::u32string& text, std::size_t window, std::size_t T) {
    std::vector<bool> space(T);
    for (std::size_t t = 0; t < T; ++t) space[t] = is_space(text[window * T + t]);
    return space;
}

// The attention scores of each head, averaged over the windows.
void score_attention(HeadsReport& r, const std::u32string& text) {
    const std::size_t T = r.block_size;
    for (std::size_t k = 0; k < r.heads.size(); ++k) {
        HeadScores& h = r.heads[k];
        const std::vector<Array>& A = r.attention[k];
        h.previous_token = over_windows(A, [](const Array& a) { return previous_token(a); });
        h.first_token = over_windows(A, [](const Array& a) { return first_token(a); });
        h.self = over_windows(A, [](const Array& a) { return analysis::self(a); });
        h.mean_distance = over_windows(A, [](const Array& a) { return mean_distance(a); });
        h.entropy = over_windows(A, [](const Array& a) { return entropy(a); });
        std::size_t w = 0;
        h.word_start = over_windows(A, [&](const Array& a) { return word_start(a, spaces_of(text, w++, T)); });
    }
}

// Ablation: the loss with one head's output zeroed; and with --ablate's set off together.
void ablate(HeadsReport& r, const LanguageModel& model, const Index& x, const Index& y, const HeadsOptions& options) {
    const std::size_t H = r.heads.size();
    for (std::size_t k = 0; k < H; ++k) {
        std::vector<Scalar> gates(H, Scalar(1));
        gates[k] = 0;
        r.heads[k].ablation = loss_with_gates(model, x, y, gates) - r.base_loss;
    }
    if (options.ablate.empty()) return;
    std::vector<Scalar> gates(H, Scalar(1));
    for (const auto& [layer, head] : options.ablate) {
        for (std::size_t k = 0; k < H; ++k) {
            if (r.heads[k].layer == layer && r.heads[k].head == head) gates[k] = 0;
        }
    }
    r.ablated_loss = loss_with_gates(model, x, y, gates);
}

// Importance: |d loss / d gate| of each window, averaged over the windows.
void importance(HeadsReport& r, LanguageModel& model, const Index& x, const Index& y) {
    const std::size_t H = r.heads.size(), N = r.windows, T = r.block_size;
    for (std::size_t w = 0; w < N; ++w) {
        Index xw = Index::from_shape({1, T}), yw = Index::from_shape({1, T});
        for (std::size_t t = 0; t < T; ++t) xw(0, t) = x(w, t), yw(0, t) = y(w, t);
        HeadGates gates(H);
        model(xw, yw).loss.backward();
        for (std::size_t k = 0; k < H; ++k) r.heads[k].importance += std::abs(double(gates.gate[k].grad()(0)));
    }
    for (const auto& [name, p] : model.named_parameters()) {
        Tensor t = p;
        t.zero_grad();  // the backward above filled them; nobody asked
    }
    for (HeadScores& h : r.heads) h.importance /= static_cast<double>(N);
}

// Induction: R random tokens, then the same R again.
void induction_test(HeadsReport& r, const LanguageModel& model, std::size_t vocab_size, std::uint64_t seed) {
    const std::size_t H = r.heads.size(), R = r.block_size / 2;
    SplitMix64 rng{seed};
    Index seq = Index::from_shape({1, 2 * R}), next = Index::from_shape({1, 2 * R});
    for (std::size_t t = 0; t < R; ++t) seq(0, t) = seq(0, t + R) = static_cast<std::int64_t>(rng.next() % vocab_size);
    for (std::size_t t = 0; t + 1 < 2 * R; ++t) next(0, t) = seq(0, t + 1);
    next(0, 2 * R - 1) = seq(0, 0);  // no target after the end; not scored
    Array logits;  // (1, 2R, V): the same forward gives the weights and the logits
    const std::vector<Tensor> weights = capture_attention(model, seq, H, &logits);
    for (std::size_t k = 0; k < H; ++k) r.heads[k].induction = induction(window(weights[k], 0), R);
    // predicting tokens 1..R-1 (the first copy) and R+1..2R-1 (the repeat, which an induction head can copy)
    r.induction_loss_first = R > 1 ? loss_of_positions(logits, next, 0, R - 1) : std::nan("");
    r.induction_loss_second = R > 1 ? loss_of_positions(logits, next, R, 2 * R - 1) : std::nan("");
}

// Every score under uniform causal attention (on the same windows' words), and the roles.
void uniform_baseline(HeadsReport& r, const std::u32string& text) {
    const std::size_t T = r.block_size, R = T / 2;
    const Array U = uniform_attention(T);
    r.uniform.previous_token = previous_token(U);
    r.uniform.first_token = first_token(U);
    r.uniform.self = analysis::self(U);
    r.uniform.mean_distance = mean_distance(U);
    r.uniform.entropy = entropy(U);
    r.uniform.induction = induction(uniform_attention(2 * R), R);
    std::size_t w = 0;
    r.uniform.word_start = over_windows(std::vector<Array>(r.windows, U),
                                        [&](const Array& a) { return word_start(a, spaces_of(text, w++, T)); });
    r.uniform.role = "diffuse";
    for (HeadScores& h : r.heads) h.role = role_of(h, r.uniform);
}

// Similarity: the mean Jensen-Shannon divergence of every two heads' rows.
void similarity(HeadsReport& r) {
    const std::size_t H = r.heads.size();
    r.similarity.assign(H, std::vector<double>(H, 0.0));
    for (std::size_t a = 0; a < H; ++a) {
        for (std::size_t b = a + 1; b < H; ++b) {
            double total = 0;
            for (std::size_t w = 0; w < r.windows; ++w) total += js_divergence(r.attention[a][w], r.attention[b][w]);
            r.similarity[a][b] = r.similarity[b][a] = total / static_cast<double>(r.windows);
        }
    }
}

}  // namespace

HeadsReport analyse_heads(LanguageModel& model, const Tokenizer& tokenizer, const std::u32string& text,
                          const HeadsOptions& options) {
    HeadsReport r;
    r.heads = list_heads(model);
    const std::size_t H = r.heads.size(), T = model.config.block_size;
    if (H == 0) throw Error("heads: this model has no attention heads (the bigram model reads a table)");
    if (options.windows == 0) throw Error("--windows must be at least 1");
    if (text.size() < T + 1) {
        throw Error("heads: the text has " + std::to_string(text.size()) + " characters; it needs at least block_size + 1 = " +
                    std::to_string(T + 1));
    }
    model.eval();
    r.windows = std::min(options.windows, (text.size() - 1) / T);
    r.block_size = T;
    const std::vector<std::int64_t> ids =
        tokenizer.encode(std::u32string_view(text).substr(0, r.windows * T + 1), "heads text");
    const auto [x, y] = windows_of(ids, r.windows, T);

    // attention and the base loss: one forward of every window
    const std::vector<Tensor> weights = capture_attention(model, x, H);
    r.base_loss = loss_with_gates(model, x, y, {});
    for (std::size_t k = 0; k < H; ++k) {
        std::vector<Array> per_window;
        for (std::size_t w = 0; w < r.windows; ++w) per_window.push_back(window(weights[k], w));
        r.attention.push_back(std::move(per_window));
    }
    score_attention(r, text);
    ablate(r, model, x, y, options);
    importance(r, model, x, y);
    induction_test(r, model, tokenizer.vocab_size(), options.seed);
    uniform_baseline(r, text);
    similarity(r);
    return r;
}

SubjectVerbScores subject_verb(LanguageModel& model, const Tokenizer& tokenizer, std::size_t windows, std::uint64_t seed) {
    const std::vector<HeadScores> heads = list_heads(model);
    const std::size_t H = heads.size(), T = model.config.block_size;
    // fresh sentences (another seed than the training corpus's), enough for the windows
    const CorpusLabels labels = generate_labelled_corpus(windows * T + 1, seed + 1);
    const std::u32string text = decode_utf8(std::string_view(labels.text).substr(0, windows * T), "the labelled corpus");
    const std::vector<std::int64_t> ids = tokenizer.encode(text, "the labelled corpus");
    Index x = Index::from_shape({windows, T});
    std::copy(ids.begin(), ids.end(), x.begin());
    model.eval();
    const std::vector<Tensor> weights = capture_attention(model, x, H);

    SubjectVerbScores out;
    for (const HeadScores& h : heads) out.heads.push_back({h.layer, h.head, 0, 0, 0});
    std::vector<double> other_total(H, 0.0);
    double other_uniform = 0;
    std::size_t other_positions = 0;
    for (const CorpusLabels::Agreement& a : labels.agreements) {
        const std::size_t w = a.verb.begin / T;
        // the verb and its subject inside one window, the subject first (a query sees only what comes before it)
        if (a.verb.end > (w + 1) * T || w >= windows || a.subject.begin < w * T || a.subject.end > a.verb.begin) continue;
        // the nearest other noun before the verb, in the window
        const CorpusLabels::Span* other = nullptr;
        for (const CorpusLabels::Span& n : labels.nouns) {
            if (n.begin >= w * T && n.end <= a.verb.begin && n.begin != a.subject.begin) other = &n;
        }
        ++out.pairs;
        for (std::size_t q = a.verb.begin; q < a.verb.end; ++q) {
            const std::size_t i = q - w * T;
            ++out.positions;
            if (other) ++other_positions, other_uniform += double(other->end - other->begin) / double(i + 1);
            for (std::size_t k = 0; k < H; ++k) {
                const Scalar* A = weights[k].data().data() + (w * T + i) * T;  // row i of window w
                double on_subject = 0, on_other = 0;
                for (std::size_t j = a.subject.begin; j < a.subject.end; ++j) on_subject += A[j - w * T];
                if (other) {
                    for (std::size_t j = other->begin; j < other->end; ++j) on_other += A[j - w * T];
                }
                out.heads[k].subject += on_subject;
                other_total[k] += on_other;
                out.heads[k].uniform += double(a.subject.end - a.subject.begin) / double(i + 1);
            }
        }
    }
    if (out.positions == 0) throw Error("--subject-verb: no verb with its subject inside one window; give more --windows");
    for (std::size_t k = 0; k < H; ++k) {
        out.heads[k].subject /= double(out.positions);
        out.heads[k].uniform /= double(out.positions);
        out.heads[k].other_noun = other_positions ? other_total[k] / double(other_positions) : std::nan("");
        out.heads[k].other_uniform = other_positions ? other_uniform / double(other_positions) : std::nan("");
    }
    return out;
}

void print_subject_verb(const SubjectVerbScores& s, std::ostream& out) {
    out << "\nsubject-verb: " << s.pairs << " verbs with their subject in the window (" << s.positions
        << " verb characters); the weight from a verb's characters on\n"
        << std::left << std::setw(7) << "layer" << std::setw(6) << "head" << std::right << std::setw(10) << "subject"
        << std::setw(12) << "other noun" << std::setw(10) << "uniform" << std::setw(16) << "uniform, other" << "\n";
    for (const auto& h : s.heads) {
        out << std::left << std::setw(7) << h.layer << std::setw(6) << h.head << std::right << std::fixed
            << std::setprecision(3) << std::setw(10) << h.subject << std::setw(12) << h.other_noun << std::setw(10)
            << h.uniform << std::setw(16) << h.other_uniform << "\n";
    }
}

nlohmann::json subject_verb_json(const SubjectVerbScores& s) {
    nlohmann::json heads = nlohmann::json::array();
    for (const auto& h : s.heads) {
        heads.push_back({{"layer", h.layer}, {"head", h.head}, {"subject", h.subject},
                         {"other_noun", std::isnan(h.other_noun) ? nlohmann::json(nullptr) : nlohmann::json(h.other_noun)},
                         {"uniform", h.uniform},
                         {"other_uniform", std::isnan(h.other_uniform) ? nlohmann::json(nullptr) : nlohmann::json(h.other_uniform)}});
    }
    return {{"pairs", s.pairs}, {"positions", s.positions}, {"heads", heads}};
}

void print_report(const HeadsReport& r, const std::string& checkpoint, std::ostream& out) {
    out << checkpoint << ": " << r.heads.size() << " heads, " << r.windows << " windows of " << r.block_size
        << " characters, loss " << std::fixed << std::setprecision(4) << r.base_loss << " with every head on\n\n";
    out << std::left << std::setw(7) << "layer" << std::setw(6) << "head" << std::setw(24) << "name" << std::right;
    for (const char* c : {"prev", "first", "self", "dist", "entropy", "word", "ablation", "importance", "induct"}) {
        out << std::setw(c == std::string("importance") ? 11 : 9) << c;
    }
    out << "  role\n";
    auto row = [&](const HeadScores& h, const std::string& layer, const std::string& head, const std::string& name) {
        out << std::left << std::setw(7) << layer << std::setw(6) << head << std::setw(24) << name << std::right
            << std::setprecision(3);
        for (double v : {h.previous_token, h.first_token, h.self, h.mean_distance, h.entropy, h.word_start}) {
            out << std::setw(9) << v;
        }
        if (std::isnan(h.ablation)) {
            out << std::setw(9) << "-" << std::setw(11) << "-";  // the uniform row has no model to ablate
        } else {
            out << std::setw(9) << std::showpos << h.ablation << std::noshowpos << std::setw(11) << h.importance;
        }
        out << std::setw(9) << h.induction << "  " << h.role << "\n";
    };
    for (const HeadScores& h : r.heads) row(h, std::to_string(h.layer), std::to_string(h.head), h.name);
    HeadScores u = r.uniform;
    u.ablation = u.importance = std::nan("");
    row(u, "", "", "(uniform attention)");
    out << "\nprev, first, self: the mean weight on the previous, the first and the same position; dist: the mean "
           "distance looked back, in characters; entropy: 1 uniform, 0 one position; word: the weight on the first "
           "character of the current word; ablation: the loss's change with the head's output zeroed; importance: "
           "mean |d loss / d gate|; induct: on a random sequence repeated, the weight on the character after the "
           "earlier copy of the current one (loss "
        << std::setprecision(4) << r.induction_loss_first << " on the first copy, " << r.induction_loss_second
        << " on the repeat)\n"
        << role_rules() << "\n";
    if (r.ablated_loss) out << "loss with the --ablate heads off together: " << *r.ablated_loss << "\n";
    out << "\nsimilarity (mean Jensen-Shannon divergence between the heads' rows, bits; 0 the same, 1 disjoint):\n";
    for (std::size_t a = 0; a < r.similarity.size(); ++a) {
        out << std::left << std::setw(6) << (std::to_string(r.heads[a].layer) + "." + std::to_string(r.heads[a].head))
            << std::right;
        for (double v : r.similarity[a]) out << std::setw(7) << std::setprecision(3) << v;
        out << "\n";
    }
}

nlohmann::json report_json(const HeadsReport& r, const std::string& checkpoint) {
    using nlohmann::json;
    auto scores = [](const HeadScores& h) {
        auto num = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
        return json{{"previous_token", num(h.previous_token)}, {"first_token", num(h.first_token)},
                    {"self", num(h.self)}, {"mean_distance", num(h.mean_distance)}, {"entropy", num(h.entropy)},
                    {"word_start", num(h.word_start)}, {"ablation", num(h.ablation)},
                    {"importance", num(h.importance)}, {"induction", num(h.induction)}, {"role", h.role}};
    };
    json heads = json::array();
    for (const HeadScores& h : r.heads) {
        json j = scores(h);
        j["layer"] = h.layer, j["head"] = h.head, j["name"] = h.name;
        heads.push_back(j);
    }
    json uniform = scores(r.uniform);
    uniform.erase("ablation"), uniform.erase("importance"), uniform.erase("role");
    json out = {{"checkpoint", checkpoint}, {"windows", r.windows}, {"block_size", r.block_size},
                {"base_loss", r.base_loss}, {"heads", heads}, {"similarity", r.similarity}, {"uniform", uniform},
                {"induction_loss", {{"first", r.induction_loss_first}, {"second", r.induction_loss_second}}},
                {"roles", role_rules()}};
    if (r.ablated_loss) out["ablated_loss"] = *r.ablated_loss;
    return out;
}

}  // namespace xgrad::analysis

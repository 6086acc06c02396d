// The answers of `xgrad serve`'s API (explorer.hpp), from the same functions
// as the command line's `xgrad attention`, `xgrad heads` and `xgrad sample`.
#include "train/serve/explorer.hpp"

#include "autograd/error.hpp"
#include "models/hooks.hpp"
#include "train/analysis/heads.hpp"
#include "train/loop/checkpointing.hpp"
#include "train/text/corpus.hpp"
#include "train/text/data.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

namespace xgrad::serve {

using nlohmann::json;

namespace {

std::string one_char(char32_t c) { return encode_utf8(std::u32string(1, c)); }

// The top `k` of softmax(logits) over one row (V), most likely first (ties by token id).
json top_next(const Scalar* logits, std::size_t V, const Tokenizer& tokenizer, std::size_t k) {
    const double m = *std::max_element(logits, logits + V);
    std::vector<double> p(V);
    double total = 0;
    for (std::size_t v = 0; v < V; ++v) total += (p[v] = std::exp(double(logits[v]) - m));
    std::vector<std::size_t> order(V);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
    const std::u32string chars = tokenizer.chars();
    json out = json::array();
    for (std::size_t i = 0; i < std::min(k, V); ++i) {
        out.push_back({{"token", one_char(chars[order[i]])}, {"p", p[order[i]] / total}});
    }
    return out;
}

// The mean loss of predicting each token of the text from the ones before it (logits (1, T, V)).
double text_loss(const Array& logits, const std::vector<std::int64_t>& ids) {
    Index next = Index::from_shape({1, ids.size()});
    for (std::size_t t = 0; t + 1 < ids.size(); ++t) next(0, t) = ids[t + 1];
    return analysis::loss_of_positions(logits, next, 0, ids.size() - 1);
}

}  // namespace

Explorer::Explorer(const std::string& checkpoint) : checkpoint_(checkpoint), ck_(load_checkpoint(checkpoint)) {
    ck_.model->eval();  // once, before any request: the model is not changed again while serving
    analysis_model_ = std::move(load_checkpoint(checkpoint).model);  // the heads report's own copy: the same file read again
    analysis_model_->eval();
    for (const analysis::HeadScores& h : analysis::list_heads(*ck_.model)) heads_.emplace_back(h.layer, h.head);
}

json Explorer::model_json() const {
    const std::size_t parameters = nn::count_parameters(ck_.model->named_parameters());
    json vocab = json::array(), heads = json::array();
    for (const char32_t c : ck_.tokenizer.chars()) vocab.push_back(one_char(c));
    for (const auto& [layer, head] : heads_) heads.push_back({layer, head});
    const GPTConfig& c = ck_.model->config;
    return {{"checkpoint", checkpoint_}, {"model", ck_.model_type}, {"config", json::parse(config_to_json(c))},
            {"vocab", vocab}, {"parameters", parameters}, {"corpus", ck_.corpus}, {"step", ck_.step},
            {"n_layer", heads_.empty() ? 0 : heads_.back().first + 1},
            {"n_head", heads_.empty() ? 0 : heads_.back().second + 1}, {"heads", heads}};
}

std::vector<std::int64_t> Explorer::encode_checked(const std::string& text, const std::string& field) const {
    std::u32string chars;
    try {
        chars = decode_utf8(text, field);
    } catch (const Error& e) {
        throw BadRequest(400, e.what());
    }
    if (chars.empty()) throw BadRequest(400, "\"" + field + "\" is empty; give at least one character");
    const std::u32string vocab = ck_.tokenizer.chars();
    const std::set<char32_t> known(vocab.begin(), vocab.end());
    for (std::size_t i = 0; i < chars.size(); ++i) {
        if (!known.count(chars[i])) {
            throw BadRequest(400, "\"" + field + "\": character " + describe_char(chars[i]) + " at position " +
                                      std::to_string(i) + " (counting from 0) is not in the model's vocabulary");
        }
    }
    return ck_.tokenizer.encode(chars, field);
}

void Explorer::check_head(std::size_t layer, std::size_t head) const {
    if (std::find(heads_.begin(), heads_.end(), std::pair{layer, head}) != heads_.end()) return;
    const std::string known = heads_.empty() ? "this model has none"
                                             : "this model's heads are [0, 0] to [" + std::to_string(heads_.back().first) +
                                                   ", " + std::to_string(heads_.back().second) + "]";
    throw BadRequest(400, "\"ablate\": no head [" + std::to_string(layer) + ", " + std::to_string(head) + "] (" + known + ")");
}

json Explorer::attention_json(const AttentionRequest& request) const {
    std::vector<std::int64_t> ids = encode_checked(request.text, "text");
    for (const auto& [layer, head] : request.ablate) check_head(layer, head);
    const std::size_t block_size = ck_.model->config.block_size, H = heads_.size();
    const bool cropped = ids.size() > block_size;
    if (cropped) ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(block_size));  // as generate() crops
    const std::size_t T = ids.size();
    Index idx = Index::from_shape({1, T});
    std::copy(ids.begin(), ids.end(), idx.begin());

    std::vector<Tensor> weights;
    Array logits;  // (1, T, V)
    {
        // One forward, serialised with every other call into the model; the
        // gates live on this thread's stack for this call only (models/hooks.hpp).
        std::lock_guard<std::mutex> lock(model_mutex_);
        std::optional<HeadGates> gates;
        if (!request.ablate.empty()) {
            gates.emplace(H);
            for (std::size_t k = 0; k < H; ++k) {
                if (std::find(request.ablate.begin(), request.ablate.end(), heads_[k]) != request.ablate.end()) {
                    gates->gate[k].data()(0) = 0;
                }
            }
        }
        weights = analysis::capture_attention(*ck_.model, idx, H, &logits);
    }
    json attention = json::array();
    for (std::size_t k = 0; k < H; ++k) {
        if (heads_[k].second == 0) attention.push_back(json::array());
        json rows = json::array();
        const Scalar* w = weights[k].data().data();  // (1, T, T)
        for (std::size_t i = 0; i < T; ++i) rows.push_back(std::vector<Scalar>(w + i * T, w + i * T + T));
        attention.back().push_back(std::move(rows));
    }
    const std::u32string vocab = ck_.tokenizer.chars();  // by value: once, not once a token
    json tokens = json::array();
    for (const std::int64_t id : ids) tokens.push_back(one_char(vocab[static_cast<std::size_t>(id)]));
    const std::size_t V = logits.shape()[2];
    return {{"tokens", tokens}, {"cropped", cropped}, {"attention", attention},
            {"next", top_next(logits.data() + (T - 1) * V, V, ck_.tokenizer, 10)},
            {"loss", T > 1 ? json(text_loss(logits, ids)) : json(nullptr)}};
}

json Explorer::heads_of(const std::u32string& text) const {
    // as `xgrad heads` (train/analysis/heads_command.cpp): its first windows * T + 1 characters, default options
    const analysis::HeadsOptions options;
    const std::size_t used = std::min(text.size(), options.windows * ck_.model->config.block_size + 1);
    // on the analysis copy (explorer.hpp): analyse_heads fills and clears its parameters' gradients
    std::lock_guard<std::mutex> lock(heads_mutex_);
    const analysis::HeadsReport report =
        analysis::analyse_heads(*analysis_model_, ck_.tokenizer, text.substr(0, used), options);
    return analysis::report_json(report, checkpoint_);
}

json Explorer::text_heads_json(const std::string& text) const {
    if (heads_.empty()) throw BadRequest(400, "this '" + ck_.model_type + "' model has no attention heads to analyse");
    const std::vector<std::int64_t> ids = encode_checked(text, "text");
    const std::size_t T = ck_.model->config.block_size;
    if (ids.size() < T + 1) {
        throw BadRequest(400, "\"text\" has " + std::to_string(ids.size()) + " characters; the heads report needs at least "
                                  "block_size + 1 = " + std::to_string(T + 1) + " (one window and its next character)");
    }
    return heads_of(decode_utf8(text, "text"));
}

std::optional<std::u32string> Explorer::own_corpus(std::string& why) const {
    if (ck_.corpus.empty()) {
        why = checkpoint_ + " does not say which corpus it was trained on";
        return std::nullopt;
    }
    CorpusText corpus;
    try {
        corpus = read_corpus(ck_.corpus == "built-in" ? "" : ck_.corpus);
    } catch (const Error& e) {
        why = "the checkpoint's corpus is not at hand (" + std::string(e.what()) + ")";
        return std::nullopt;
    }
    std::string recorded_hash;
    try {
        recorded_hash = recorded_run(checkpoint_).data_hash;
    } catch (const Error&) {
        // no training state beside the checkpoint: nothing to compare the file with
    }
    if (!recorded_hash.empty() && recorded_hash != fnv1a64(corpus.bytes)) {
        why = corpus.origin + " is not the text the checkpoint was trained on (its hash differs from the run's)";
        return std::nullopt;
    }
    std::u32string text = decode_utf8(corpus.bytes, corpus.origin);
    const std::size_t T = ck_.model->config.block_size;
    if (text.size() < T + 1) {
        why = corpus.origin + " has fewer than block_size + 1 characters";
        return std::nullopt;
    }
    return text;
}

json Explorer::corpus_heads_json() const {
    if (heads_.empty()) throw BadRequest(404, "this '" + ck_.model_type + "' model has no attention heads to analyse");
    std::lock_guard<std::mutex> lock(corpus_mutex_);  // the first request makes the report; the others wait for it
    if (!corpus_heads_ && !corpus_missing_) {
        std::string why;
        if (const std::optional<std::u32string> text = own_corpus(why)) {
            corpus_heads_ = heads_of(*text);
        } else {
            corpus_missing_ = why + "; POST /api/heads with {\"text\": ...} analyses a text of your own";
        }
    }
    if (corpus_missing_) throw BadRequest(404, *corpus_missing_);
    return *corpus_heads_;
}

void Explorer::check_sampling(const SampleRequest& r) const {
    if (r.tokens > kMaxSampleTokens) {
        throw BadRequest(400, "\"tokens\" is " + std::to_string(r.tokens) + "; at most " + std::to_string(kMaxSampleTokens) +
                                  " tokens can be sampled at once");
    }
    if (!(r.sampling.temperature > 0)) throw BadRequest(400, "\"temperature\" must be greater than 0");
    if (r.sampling.top_k > ck_.tokenizer.vocab_size()) {
        throw BadRequest(400, "\"top_k\" " + std::to_string(r.sampling.top_k) + " is larger than the vocabulary (" +
                                  std::to_string(ck_.tokenizer.vocab_size()) + " tokens)");
    }
}

void Explorer::sample(const SampleRequest& r, std::size_t chunk, const std::function<bool(const std::string&)>& emit) const {
    check_sampling(r);
    // as `xgrad sample` (train/cli/commands.cpp): the prompt, or token 0; the seed's generator; generate()
    std::vector<std::int64_t> context_ids = r.prompt.empty() ? std::vector<std::int64_t>{0} : encode_checked(r.prompt, "prompt");
    Index context = Index::from_shape({1, context_ids.size()});
    std::copy(context_ids.begin(), context_ids.end(), context.begin());
    Generator gen(static_cast<Generator::result_type>(r.seed));
    if (!r.prompt.empty() && !emit(r.prompt)) return;
    std::size_t left = r.tokens;
    while (left > 0) {
        const std::size_t n = chunk == 0 ? left : std::min(chunk, left);
        const std::size_t before = context.shape()[1];
        {
            std::lock_guard<std::mutex> lock(model_mutex_);  // per piece: other requests run between the pieces
            context = ck_.model->generate(context, n, r.sampling, gen);
        }
        left -= n;
        const std::vector<std::int64_t> fresh(context.begin() + static_cast<std::ptrdiff_t>(before), context.end());
        if (!emit(ck_.tokenizer.decode(fresh))) return;  // the client went away
    }
}

}  // namespace xgrad::serve

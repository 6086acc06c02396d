// What `xgrad serve` computes, without HTTP: one loaded checkpoint and the
// answers of the JSON API (train/serve/server.cpp routes requests here). Every
// number comes from the functions the command line uses: attention through
// analysis::capture_attention (as `xgrad attention`), ablation through
// HeadGates (as `xgrad heads`), the heads report through analyse_heads and
// report_json, sampling through the model's generate() (as `xgrad sample`).
//
// Threads: the server calls these from several threads at once. The model
// that answers requests is read-only while serving (eval mode is set once, at
// load), and every call into it holds model_mutex_, so one request's hooks
// (HeadGates, AttentionCapture: per thread anyway) never meet another
// request's forward. The heads report runs on a copy of the model of its own
// (analysis_model_, under heads_mutex_): analyse_heads fills and clears its
// gradients, and a report of several seconds at the lecture size does not
// hold up the attention requests.
#pragma once

#include "train/formats/checkpoint.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace xgrad::serve {

// A request the API refuses: its HTTP status (4xx) and one sentence.
struct BadRequest : std::runtime_error {
    int status;
    BadRequest(int status_, const std::string& message) : std::runtime_error(message), status(status_) {}
};

struct AttentionRequest {
    std::string text;  // UTF-8
    std::vector<std::pair<std::size_t, std::size_t>> ablate;  // (layer, head): switched off
};

struct SampleRequest {
    std::string prompt;  // empty: start from token 0, as `xgrad sample`
    std::size_t tokens = 500;  // the defaults are `xgrad sample`'s
    SamplingOptions sampling;
    std::uint64_t seed = 1337;
};
constexpr std::size_t kMaxSampleTokens = 4096;

class Explorer {
public:
    explicit Explorer(const std::string& checkpoint);

    // GET /api/model: the config, the model type, the vocabulary, the parameter count, the heads.
    nlohmann::json model_json() const;
    // POST /api/attention: tokens, cropped, every head's (T, T) weights, the top 10 next characters, the loss.
    nlohmann::json attention_json(const AttentionRequest& request) const;
    // GET /api/heads: `xgrad heads --json` on the checkpoint's own corpus (computed once, then cached);
    // a BadRequest (404) saying why when that corpus is not at hand.
    nlohmann::json corpus_heads_json() const;
    // POST /api/heads: `xgrad heads --json` on a text of at least block_size + 1 characters.
    nlohmann::json text_heads_json(const std::string& text) const;
    // POST /api/sample: the prompt and its continuation, handed to `emit` in
    // pieces of `chunk` tokens as they are generated (0: all at once). The
    // same text as `xgrad sample` with the same settings.
    void sample(const SampleRequest& request, std::size_t chunk, const std::function<bool(const std::string&)>& emit) const;

    // The checks the routes share, each a BadRequest (400) that names what is wrong.
    std::vector<std::int64_t> encode_checked(const std::string& text, const std::string& field) const;
    void check_head(std::size_t layer, std::size_t head) const;
    void check_sampling(const SampleRequest& request) const;

    const std::string& checkpoint() const { return checkpoint_; }

private:
    nlohmann::json heads_of(const std::u32string& text) const;
    // The corpus the checkpoint was trained on, when its file is here and
    // still holds the text the run hashed; else nullopt and why in `why`.
    std::optional<std::u32string> own_corpus(std::string& why) const;

    std::string checkpoint_;
    LoadedCheckpoint ck_;
    std::vector<std::pair<std::size_t, std::size_t>> heads_;  // (layer, head) in the order they run
    mutable std::mutex model_mutex_;                          // held around every call into ck_.model
    std::unique_ptr<LanguageModel> analysis_model_;           // the same weights, for the heads reports
    mutable std::mutex heads_mutex_;                          // held around every call into analysis_model_
    mutable std::mutex corpus_mutex_;                         // held while the corpus report is made and cached
    mutable std::optional<nlohmann::json> corpus_heads_;      // the cached corpus report
    mutable std::optional<std::string> corpus_missing_;       // or why there is none
};

}  // namespace xgrad::serve

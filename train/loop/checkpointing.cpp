// Load or resume, and save, for a training run (checkpointing.hpp).
#include "train/loop/checkpointing.hpp"

#include "autograd/error.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/formats/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <tuple>
#include <unistd.h>

namespace xgrad {

std::string fnv1a64(const std::string& bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return hex;
}

std::string run_record(const TrainOptions& o, const std::string& corpus_bytes) {
    nlohmann::json j = {{"model", o.model}, {"preset", o.preset}, {"data", o.data}, {"data_fnv1a64", fnv1a64(corpus_bytes)},
                        {"batch_size", o.batch_size}, {"max_iters", o.max_iters}, {"eval_interval", o.eval_interval},
                        {"learning_rate", o.learning_rate}, {"eval_iters", o.eval_iters}, {"seed", o.seed},
                        {"sample_tokens", o.sample_tokens}, {"config", nlohmann::json::parse(config_to_json(o.config))}};
    return j.dump();
}

TrainOptions recorded_run(const std::string& checkpoint) {
    const std::string state = state_path(checkpoint), previous = previous_state_path(checkpoint);
    const std::string path = ::access(state.c_str(), F_OK) == 0 ? state : previous;
    if (::access(checkpoint.c_str(), F_OK) != 0) throw Error(checkpoint + ": no such checkpoint to resume");
    if (::access(path.c_str(), F_OK) != 0) {
        throw Error("--resume " + checkpoint + ": no training state " + state +
                    " beside it (AdamW's moments, the step and the random generator, which xgrad train writes with "
                    "every checkpoint); to start a new run from its weights, use --init-from " + checkpoint);
    }
    const safetensors::File file = safetensors::load(path);
    const auto it = file.metadata.find("run");
    if (it == file.metadata.end()) {
        throw Error(path + ": records no run (an older xgrad wrote it); to start a new run from its weights, use "
                    "--init-from " + checkpoint);
    }
    const nlohmann::json j = nlohmann::json::parse(it->second, nullptr, false);
    if (!j.is_object()) throw Error(path + ": its 'run' metadata is not JSON");
    TrainOptions o;
    try {
        o.model = j.at("model"), o.preset = j.at("preset"), o.data = j.at("data");
        o.batch_size = j.at("batch_size"), o.max_iters = j.at("max_iters"), o.eval_interval = j.at("eval_interval");
        o.learning_rate = j.at("learning_rate"), o.eval_iters = j.at("eval_iters"), o.seed = j.at("seed");
        o.sample_tokens = j.at("sample_tokens");
        o.config = config_from_json(j.at("config").dump(), path);
        o.data_hash = j.at("data_fnv1a64");
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + ": its 'run' metadata is incomplete (" + e.what() + ")");
    }
    o.resume = checkpoint;
    return o;
}

namespace {
std::string scale_name(AttentionScale s) {
    return s == AttentionScale::head_size ? "head_size" : s == AttentionScale::n_embd ? "n_embd" : "(the model's own)";
}
}  // namespace

std::string first_contradiction(const TrainOptions& a, const TrainOptions& b) {
    auto text = [](auto v) {
        std::ostringstream s;
        s << v;
        return s.str();
    };
    const std::vector<std::tuple<const char*, std::string, std::string>> flags = {
        {"--model", a.model, b.model}, {"--data", a.data.empty() ? "(the built-in corpus)" : a.data,
                                        b.data.empty() ? "(the built-in corpus)" : b.data},
        {"--batch-size", text(a.batch_size), text(b.batch_size)}, {"--eval-interval", text(a.eval_interval), text(b.eval_interval)},
        {"--learning-rate", text(a.learning_rate), text(b.learning_rate)}, {"--eval-iters", text(a.eval_iters), text(b.eval_iters)},
        {"--seed", text(a.seed), text(b.seed)}, {"--block-size", text(a.config.block_size), text(b.config.block_size)},
        {"--n-embd", text(a.config.n_embd), text(b.config.n_embd)}, {"--n-head", text(a.config.n_head), text(b.config.n_head)},
        {"--n-layer", text(a.config.n_layer), text(b.config.n_layer)}, {"--dropout", text(a.config.dropout), text(b.config.dropout)},
        {"--attention-scale", scale_name(a.config.attention_scale), scale_name(b.config.attention_scale)}};
    for (const auto& [flag, recorded, given] : flags) {
        if (recorded != given) return std::string(flag) + " " + given + " (the run has " + recorded + ")";
    }
    return "";
}

Resumed load_or_resume(const TrainOptions& o) {
    Resumed r;
    r.model_type = o.model;
    r.config = o.config;
    if (!o.init_from.empty()) {  // a new run from a checkpoint's weights: its model and config, step 0
        LoadedCheckpoint ck = load_checkpoint(o.init_from);
        r.model_type = ck.model_type;
        r.config = ck.model->config;
        r.vocabulary = ck.tokenizer;
        r.model = std::move(ck.model);
        return r;
    }
    if (o.resume.empty()) return r;
    LoadedCheckpoint ck = load_checkpoint(o.resume);
    r.model = std::move(ck.model);
    r.model_type = ck.model_type;
    r.config = r.model->config;
    r.vocabulary = ck.tokenizer;
    r.step = ck.step;
    return r;
}

Trainee make_trainee(const TrainOptions& o, Resumed r, const CorpusText& corpus, const TextData& data, Generator& gen) {
    const std::string& from = o.resume.empty() ? o.init_from : o.resume;
    if (!from.empty() && data.tokenizer.chars() != r.vocabulary.chars()) {
        throw Error(from + ": the checkpoint's vocabulary differs from " + corpus.origin +
                    "'s; train on the corpus it was trained on");
    }
    if (!o.resume.empty() && !o.data_hash.empty() && o.data_hash != fnv1a64(corpus.bytes)) {
        throw Error("--resume " + o.resume + ": " + corpus.origin + " is not the text the run was trained on (it "
                    "changed since); to start a new run on it from these weights, use --init-from " + o.resume);
    }
    GPTConfig config = r.config;
    config.vocab_size = data.tokenizer.vocab_size();
    check_config(config, "model config");
    check_memory(r.model_type, config, o.batch_size);
    if (!r.model) r.model = make_model(r.model_type, config);
    r.model->train();

    // create a PyTorch optimizer
    nn::AdamWOptions adamw;
    adamw.lr = o.learning_rate;
    nn::AdamW optimizer(r.model->named_parameters(), adamw);
    Trainee t{std::move(r.model), r.model_type, std::move(optimizer), 0, corpus.name, o.out.empty() ? o.resume : o.out,
              run_record(o, corpus.bytes)};
    if (!o.resume.empty()) t.start_iter = load_train_state(t.optimizer, gen, o.resume, r.step).iter;
    return t;
}

void save_trainee(const Trainee& t, const Tokenizer& tokenizer, const Generator& gen, long long next_iter) {
    if (t.out_path.empty()) return;
    // Never replace a good checkpoint with broken weights.
    for (const auto& [name, p] : t.model->named_parameters()) {
        for (const Scalar v : p.data()) {
            if (!std::isfinite(v)) {
                throw Error("step " + std::to_string(next_iter) + ": parameter " + name + " became " +
                            (std::isnan(v) ? "NaN" : "infinite") + "; training stopped, the last good checkpoint " +
                            t.out_path + " is kept. Try a smaller --learning-rate.");
            }
        }
    }
    save_checkpoint_and_state(*t.model, t.model_type, tokenizer, t.corpus, t.optimizer, gen, t.out_path, next_iter, t.run);
}

}  // namespace xgrad

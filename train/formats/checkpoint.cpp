// Checkpoints and their training state, written and checked (checkpoint.hpp).
#include "train/formats/checkpoint.hpp"

#include "autograd/error.hpp"
#include "models/bigram.hpp"
#include "models/blog_gpt.hpp"
#include "models/gpt.hpp"
#include "models/stages.hpp"
#include "train/formats/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <unistd.h>
#include <set>
#include <sstream>

namespace xgrad {

namespace st = safetensors;
using nlohmann::json;

std::unique_ptr<LanguageModel> make_model(const std::string& type, const GPTConfig& config) {
    if (type == "gpt" || type == "layernorm") return std::make_unique<GPTLanguageModel>(config);
    if (type == "bigram") return std::make_unique<BigramLanguageModel>(config);
    if (type == "head") return std::make_unique<HeadStage>(config);
    if (type == "multihead") return std::make_unique<MultiHeadStage>(config);
    if (type == "feedforward") return std::make_unique<FeedForwardStage>(config);
    if (type == "blocks") return std::make_unique<BlocksStage>(config);
    if (type == "blog") return std::make_unique<GPT>(config);
    throw Error("unknown model '" + type + "' (expected bigram, head, multihead, feedforward, blocks, layernorm, gpt or blog)");
}

nn::NamedTensors expected_state(const std::string& type, const GPTConfig& config) {
    nn::ShapesOnly shapes_only;  // parameters and buffers without values: nothing of the model's size is allocated
    return make_model(type, config)->state_dict();
}

std::size_t state_size(const nn::NamedTensors& state) {
    std::size_t floats = 0;
    for (const auto& entry : state) floats += entry.second.numel();
    return floats;
}

std::string config_to_json(const GPTConfig& c) {
    json j = json::object();
    j["vocab_size"] = c.vocab_size;
    j["block_size"] = c.block_size;
    j["n_embd"] = c.n_embd;
    j["n_head"] = c.n_head;
    j["n_layer"] = c.n_layer;
    j["dropout"] = c.dropout;
    if (c.attention_scale != AttentionScale::model_default) {
        j["attention_scale"] = c.attention_scale == AttentionScale::head_size ? "head_size" : "n_embd";
    }
    return j.dump();
}

void check_config(const GPTConfig& c, const std::string& origin) {
    auto positive = [&](const char* name, std::size_t v, std::size_t limit) {
        if (v == 0 || v > limit) {
            throw Error(origin + ": " + name + " must be between 1 and " + std::to_string(limit) + ", got " +
                        std::to_string(v));
        }
    };
    positive("vocab_size", c.vocab_size, 1u << 21);  // at most every Unicode code point
    positive("block_size", c.block_size, 1u << 16);
    positive("n_embd", c.n_embd, 1u << 16);
    positive("n_head", c.n_head, 1u << 12);
    if (c.n_layer > 1024) throw Error(origin + ": n_layer must be at most 1024, got " + std::to_string(c.n_layer));
    if (c.n_embd % c.n_head != 0) {
        throw Error(origin + ": n_embd (" + std::to_string(c.n_embd) + ") must be divisible by n_head (" +
                    std::to_string(c.n_head) + ")");
    }
    if (!(c.dropout >= 0 && c.dropout < 1)) {
        throw Error(origin + ": dropout must be in [0, 1), got " + std::to_string(c.dropout));
    }
}

GPTConfig config_from_json(const std::string& text, const std::string& origin) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(origin + ": metadata 'config' is not a JSON object");
    GPTConfig c;
    auto size_field = [&](const char* name, std::size_t& out) {
        if (!j.contains(name)) throw Error(origin + ": metadata 'config' has no '" + name + "'");
        const json& v = j.at(name);
        if (!v.is_number_integer() || v.get<long long>() < 0) {
            throw Error(origin + ": metadata 'config': '" + name + "' must be a non-negative integer");
        }
        out = v.get<std::size_t>();
    };
    size_field("vocab_size", c.vocab_size);
    size_field("block_size", c.block_size);
    size_field("n_embd", c.n_embd);
    size_field("n_head", c.n_head);
    size_field("n_layer", c.n_layer);
    if (!j.contains("dropout") || !j.at("dropout").is_number()) {
        throw Error(origin + ": metadata 'config': 'dropout' must be a number");
    }
    c.dropout = j.at("dropout").get<double>();
    if (j.contains("attention_scale")) {  // written only when a run chose the other model's scale
        const json& s = j.at("attention_scale");
        if (s == "head_size") c.attention_scale = AttentionScale::head_size;
        else if (s == "n_embd") c.attention_scale = AttentionScale::n_embd;
        else throw Error(origin + ": metadata 'config': 'attention_scale' must be \"head_size\" or \"n_embd\"");
    }
    check_config(c, origin);
    return c;
}

void save_checkpoint(const LanguageModel& model, const std::string& model_type, const Tokenizer& tokenizer,
                     const std::string& corpus, const std::string& path, long long step) {
    st::File file;
    file.metadata["config"] = config_to_json(model.config);
    file.metadata["vocab"] = encode_utf8(tokenizer.chars());
    file.metadata["model"] = model_type;
    file.metadata["corpus"] = corpus;
    if (step >= 0) file.metadata["step"] = std::to_string(step);
    for (const auto& [name, t] : model.state_dict()) {
        file.tensors[name] = st::from_floats(std::vector<std::int64_t>(t.shape().begin(), t.shape().end()),
                                             t.data().data());
    }
    st::save(file, path);
}

namespace {

// The metadata: the config, the model's type, the corpus, the step and the
// vocabulary, which must have config.vocab_size characters.
GPTConfig read_metadata(const st::File& file, const std::string& path, LoadedCheckpoint& out) {
    const auto config_it = file.metadata.find("config");
    const auto vocab_it = file.metadata.find("vocab");
    if (config_it == file.metadata.end() || vocab_it == file.metadata.end()) {
        throw Error(path + ": no 'config' and 'vocab' in the metadata: not an xgrad checkpoint (save it with the "
                    "config and vocab metadata, see the README)");
    }
    const GPTConfig config = config_from_json(config_it->second, path);
    const auto model_it = file.metadata.find("model");
    out.model_type = model_it == file.metadata.end() ? "gpt" : model_it->second;
    if (const auto it = file.metadata.find("corpus"); it != file.metadata.end()) out.corpus = it->second;
    if (const auto it = file.metadata.find("step"); it != file.metadata.end()) {
        try {
            out.step = std::stoll(it->second);
        } catch (const std::logic_error&) {
            throw Error(path + ": metadata 'step' is not an integer");
        }
    }
    try {
        out.tokenizer = Tokenizer::from_vocab(decode_utf8(vocab_it->second, "metadata 'vocab'"));
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
    if (out.tokenizer.vocab_size() != config.vocab_size) {
        throw Error(path + ": the vocab metadata has " + std::to_string(out.tokenizer.vocab_size()) +
                    " characters but config.vocab_size is " + std::to_string(config.vocab_size));
    }
    return config;
}

// Every tensor the model expects, present in the file with a float dtype
// and the shape the config implies, and nothing else: checked against the
// hollow model's state dict, before anything of the model's size is
// allocated, so the file's own size bounds what loading it allocates.
void check_tensors(const st::File& file, const nn::NamedTensors& expected, const std::string& model_type,
                   const std::string& path) {
    std::set<std::string> expected_names;
    for (const auto& entry : expected) expected_names.insert(entry.first);
    std::string first_unexpected, first_missing;
    for (const auto& entry : file.tensors) {
        if (!expected_names.count(entry.first) && first_unexpected.empty()) first_unexpected = entry.first;
    }
    for (const auto& entry : expected) {
        if (!file.tensors.count(entry.first) && first_missing.empty()) first_missing = entry.first;
    }
    if (!first_unexpected.empty() && !first_missing.empty()) {  // another model's keys: the lecture's in a blog file, ...
        throw Error(path + ": its tensors are not a " + model_type + " model's (metadata 'model' says " + model_type +
                    "): the first missing is '" + first_missing + "', the first unexpected '" + first_unexpected + "'");
    }
    if (!first_unexpected.empty()) {
        throw Error(path + ": unexpected tensor '" + first_unexpected + "' for a " + model_type + " model with this config");
    }
    for (const auto& [name, t] : expected) {
        const auto it = file.tensors.find(name);
        if (it == file.tensors.end()) throw Error(path + ": missing tensor '" + name + "'");
        const std::vector<std::int64_t> want(t.shape().begin(), t.shape().end());
        if (it->second.shape != want) {
            throw Error(path + ": tensor '" + name + "' has shape " + shape_str(it->second.shape) +
                        " but the config needs " + shape_str(want));
        }
        if (it->second.dtype != st::Dtype::F32 && it->second.dtype != st::Dtype::F64) {
            throw Error(path + ": tensor '" + name + "' has dtype " + st::dtype_name(it->second.dtype) +
                        ", expected F32 (or F64)");
        }
    }
}

// The model must fit in memory (a config can ask for more than the file holds
// only if the file is missing tensors, which check_tensors refused already;
// this is for a file that is itself that large).
void check_fits(std::size_t floats, const std::string& path) {
    const double physical = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGE_SIZE));
    if (4.0 * static_cast<double>(floats) > 0.5 * physical) {
        throw Error(path + ": its config needs about " + std::to_string(static_cast<long long>(4.0 * floats / 1e9)) +
                    " GB for the weights alone, more than this machine can hold");
    }
}

// The file's values, finite, copied into the model (check_tensors vouched
// for the names and shapes).
void copy_tensors(const st::File& file, const LanguageModel& model, const std::string& path) {
    for (const auto& [name, t] : model.state_dict()) {
        const std::vector<float> values = st::to_floats(file.tensors.at(name), path + ": tensor '" + name + "'");
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (!std::isfinite(values[i])) {
                throw Error(path + ": tensor '" + name + "' holds " + (std::isnan(values[i]) ? "NaN" : "infinity") +
                            " at index " + std::to_string(i) + "; the weights are corrupt");
            }
        }
        Tensor target = t;  // a handle: writes into the model
        std::copy(values.begin(), values.end(), target.data().begin());
    }
}

// The buffers are fixed by the model: a tril that is not the causal mask would silently change it.
void check_buffers(const LanguageModel& model, const std::string& path) {
    for (const auto& [name, t] : model.named_buffers()) {
        const Array& a = t.data();
        for (std::size_t i = 0; i < a.shape()[0]; ++i) {
            for (std::size_t j = 0; j < a.shape()[1]; ++j) {
                if (a(i, j) != (j <= i ? 1 : 0)) {
                    throw Error(path + ": buffer '" + name + "' is not the causal mask (a lower-triangular matrix of ones)");
                }
            }
        }
    }
}

}  // namespace

std::pair<std::string, GPTConfig> checkpoint_model(const std::string& path) {
    LoadedCheckpoint meta;
    const GPTConfig config = read_metadata(st::load(path), path, meta);
    return {meta.model_type, config};
}

LoadedCheckpoint load_checkpoint(const std::string& path) {
    const st::File file = st::load(path);
    LoadedCheckpoint out;
    const GPTConfig config = read_metadata(file, path, out);
    nn::NamedTensors expected;
    try {
        expected = expected_state(out.model_type, config);
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
    check_tensors(file, expected, out.model_type, path);
    check_fits(state_size(expected), path);
    out.model = make_model(out.model_type, config);
    copy_tensors(file, *out.model, path);
    check_buffers(*out.model, path);
    return out;
}

std::string state_path(const std::string& checkpoint_path) { return checkpoint_path + ".state"; }

void save_train_state(const nn::AdamW& optimizer, long long next_iter, const Generator& gen, const std::string& path,
                      const std::string& run) {
    st::File file;
    if (!run.empty()) file.metadata["run"] = run;
    std::ostringstream rng;
    rng << gen;
    file.metadata["iter"] = std::to_string(next_iter);
    file.metadata["adamw_step"] = std::to_string(optimizer.step_count);
    file.metadata["generator"] = rng.str();
    for (std::size_t i = 0; i < optimizer.params.size(); ++i) {
        const std::string& name = optimizer.params[i].first;
        const Array& m = optimizer.exp_avg[i];
        const Array& v = optimizer.exp_avg_sq[i];
        const std::vector<std::int64_t> shape(m.shape().begin(), m.shape().end());
        file.tensors["exp_avg." + name] = st::from_floats(shape, m.data());
        file.tensors["exp_avg_sq." + name] = st::from_floats(shape, v.data());
    }
    st::save(file, path);
}

std::string previous_state_path(const std::string& checkpoint_path) { return state_path(checkpoint_path) + ".prev"; }

void save_checkpoint_and_state(const LanguageModel& model, const std::string& model_type, const Tokenizer& tokenizer,
                               const std::string& corpus, const nn::AdamW& optimizer, const Generator& gen,
                               const std::string& path, long long step, const std::string& run) {
    // Each file is written atomically, but a kill can fall between the two.
    // So the state the checkpoint on disk goes with is kept, as .state.prev,
    // until the new checkpoint is in place: at any moment one of .state and
    // .state.prev is from the checkpoint's step (load_train_state picks it).
    const std::string state = state_path(path), previous = previous_state_path(path);
    if (::access(state.c_str(), F_OK) == 0 && ::rename(state.c_str(), previous.c_str()) != 0) {
        throw Error(state + ": cannot keep it as " + previous + " while the new state is written");
    }
    save_train_state(optimizer, step, gen, state, run);
    save_checkpoint(model, model_type, tokenizer, corpus, path, step);
    ::unlink(previous.c_str());  // both files are from `step` now
}

namespace {

long long state_iter(const st::File& file, const std::string& path) {
    const auto it = file.metadata.find("iter");
    if (it == file.metadata.end()) throw Error(path + ": no 'iter' in the training state's metadata");
    try {
        return std::stoll(it->second);
    } catch (const std::logic_error&) {
        throw Error(path + ": 'iter' and 'adamw_step' must be integers");
    }
}

}  // namespace

TrainState load_train_state(nn::AdamW& optimizer, Generator& gen, const std::string& checkpoint_path,
                            long long checkpoint_step) {
    // CKPT.state, or the one kept while a save was under way (a kill between
    // the two writes leaves CKPT.state missing or one save newer).
    std::string path = state_path(checkpoint_path);
    const std::string previous = previous_state_path(checkpoint_path);
    const bool have_previous = ::access(previous.c_str(), F_OK) == 0;
    if (have_previous && ::access(path.c_str(), F_OK) != 0) path = previous;
    st::File file = st::load(path);
    if (checkpoint_step >= 0 && state_iter(file, path) != checkpoint_step) {
        const long long newer = state_iter(file, path);
        if (have_previous && path != previous) {
            file = st::load(previous);
            path = previous;
        }
        if (state_iter(file, path) != checkpoint_step) {
            throw Error(checkpoint_path + ": the checkpoint is from step " + std::to_string(checkpoint_step) + " but " +
                        state_path(checkpoint_path) + " from step " + std::to_string(newer) +
                        (have_previous ? " and " + previous + " from step " + std::to_string(state_iter(file, path)) : "") +
                        "; the checkpoint still works for sampling");
        }
    }
    auto meta = [&](const char* key) {
        const auto it = file.metadata.find(key);
        if (it == file.metadata.end()) throw Error(path + ": no '" + key + "' in the training state's metadata");
        return it->second;
    };
    TrainState state;
    try {
        state.iter = std::stoll(meta("iter"));
        optimizer.step_count = std::stoll(meta("adamw_step"));
    } catch (const std::logic_error&) {
        throw Error(path + ": 'iter' and 'adamw_step' must be integers");
    }
    std::istringstream rng(meta("generator"));
    Generator restored;
    if (!(rng >> restored)) throw Error(path + ": the random generator's state is corrupt");
    for (std::size_t i = 0; i < optimizer.params.size(); ++i) {
        const std::string& name = optimizer.params[i].first;
        for (auto [prefix, target] : {std::pair{"exp_avg.", &optimizer.exp_avg[i]},
                                      std::pair{"exp_avg_sq.", &optimizer.exp_avg_sq[i]}}) {
            const auto it = file.tensors.find(prefix + name);
            if (it == file.tensors.end()) throw Error(path + ": missing tensor '" + prefix + name + "'");
            const std::vector<float> values = st::to_floats(it->second, prefix + name);
            if (values.size() != target->size()) {
                throw Error(path + ": tensor '" + prefix + name + "' does not match the model's shape");
            }
            std::copy(values.begin(), values.end(), target->begin());
        }
    }
    gen = restored;
    return state;
}

}  // namespace xgrad

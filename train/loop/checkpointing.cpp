// Load or resume, and save, for a training run (checkpointing.hpp).
#include "train/loop/checkpointing.hpp"

#include "autograd/error.hpp"
#include "train/formats/checkpoint.hpp"

#include <cmath>

namespace xgrad {

Resumed load_or_resume(const TrainOptions& o) {
    Resumed r;
    r.model_type = o.model;
    r.config = o.config;
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
    if (!o.resume.empty() && data.tokenizer.chars() != r.vocabulary.chars()) {
        throw Error(o.resume + ": the checkpoint's vocabulary differs from " + corpus.origin +
                    "'s; resume with the corpus it was trained on");
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
    Trainee t{std::move(r.model), r.model_type, std::move(optimizer), 0, corpus.name, o.out.empty() ? o.resume : o.out};
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
    save_checkpoint_and_state(*t.model, t.model_type, tokenizer, t.corpus, t.optimizer, gen, t.out_path, next_iter);
}

}  // namespace xgrad

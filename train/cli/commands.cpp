// `xgrad sample`, `xgrad grad` and `xgrad corpus` (commands.hpp).
#include "train/cli/commands.hpp"

#include "autograd/error.hpp"
#include "autograd/random.hpp"
#include "train/formats/batch_file.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/text/corpus.hpp"
#include "train/formats/safetensors.hpp"

#include <iostream>

namespace xgrad {

void sample(const SampleOptions& o, std::ostream& out) {
    LoadedCheckpoint ck = load_checkpoint(o.checkpoint);
    if (o.sampling.top_k > ck.tokenizer.vocab_size()) {
        throw Error("--top-k " + std::to_string(o.sampling.top_k) + " is larger than the vocabulary (" +
                    std::to_string(ck.tokenizer.vocab_size()) + " tokens)");
    }
    if (!(o.sampling.temperature > 0)) throw Error("--temperature must be greater than 0");
    if (!(o.sampling.top_p > 0 && o.sampling.top_p <= 1)) {
        throw Error("--top-p must be in (0, 1] (1 keeps every token), got " + std::to_string(o.sampling.top_p));
    }
    std::vector<std::int64_t> prompt = ck.tokenizer.encode(decode_utf8(o.prompt, "--prompt"), "--prompt");
    const bool from_zero = prompt.empty();
    if (from_zero) prompt.push_back(0);  // context = torch.zeros((1, 1), dtype=torch.long)

    Index context = Index::from_shape({1, prompt.size()});
    std::copy(prompt.begin(), prompt.end(), context.begin());
    Generator gen(static_cast<Generator::result_type>(o.seed));
    ck.model->eval();
    const Index result = ck.model->generate(context, o.tokens, o.sampling, gen);
    const std::vector<std::int64_t> ids(result.begin() + (from_zero ? 1 : 0), result.end());
    const std::string text = ck.tokenizer.decode(ids);
    out << text << "\n";
    if (ck.corpus == "built-in") {
        const std::vector<std::int64_t> generated(result.begin() + static_cast<std::ptrdiff_t>(prompt.size()), result.end());
        const SentenceReport report = check_sentences(ck.tokenizer.decode(generated));
        if (report.sentences > 0) {
            out << "valid sentences: " << report.valid << " of " << report.sentences << "\n";
        } else {
            out << "valid sentences: none to check (the sample holds no whole sentence)\n";
        }
    }
}

void grad(const std::string& checkpoint, const std::string& batch_path, const std::string& out_path) {
    LoadedCheckpoint ck = load_checkpoint(checkpoint);
    const Batch batch = load_batch(batch_path);
    check_batch(batch, ck.model->config.vocab_size, ck.model->config.block_size, batch_path);

    Index x = Index::from_shape({batch.B, batch.T}), y = Index::from_shape({batch.B, batch.T});
    std::copy(batch.x.begin(), batch.x.end(), x.begin());
    std::copy(batch.y.begin(), batch.y.end(), y.begin());
    ck.model->eval();  // dropout off
    auto [logits, loss] = (*ck.model)(x, y);
    const Array logits_btv = logits.data();  // (B*T, V), written below as (B, T, V)
    loss.backward();

    safetensors::File file;
    file.tensors["loss"] = safetensors::from_floats({}, loss.data().data());
    file.tensors["logits"] = safetensors::from_floats(
        {static_cast<std::int64_t>(batch.B), static_cast<std::int64_t>(batch.T),
         static_cast<std::int64_t>(ck.model->config.vocab_size)},
        logits_btv.data());
    for (auto [name, p] : ck.model->named_parameters()) {
        const Array& g = p.grad();
        file.tensors[name] = safetensors::from_floats(std::vector<std::int64_t>(g.shape().begin(), g.shape().end()),
                                                      g.data());
    }
    safetensors::save(file, out_path);
}

void write_corpus(const std::string& out_path, std::ostream& out) {
    const std::string text = generate_corpus();
    if (out_path.empty() || out_path == "-") {
        out << text;
    } else {
        safetensors::write_file_atomic(out_path, text);
    }
}

}  // namespace xgrad

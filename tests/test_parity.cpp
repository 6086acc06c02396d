// PyTorch parity: xgrad computes what the blog's PyTorch model computes.
//
// Every expected value was written once by tests/reference/make_fixtures.py
// (PyTorch, in float64 from the stored float32 inputs, rounded to float32);
// tests/reference/README.md lists every file, tensor name, shape and meaning.
// No PyTorch is needed here.
//
// The measure, per tensor, is max |xgrad - torch| / max |torch| (test::compare).
// Tolerances: 1e-5 for single ops, modules and logits, 1e-4 for the whole
// model's gradients and the AdamW steps (the README's last section says why).
// Each group prints its largest relative difference as a doctest MESSAGE.
#include "models/block.hpp"
#include "models/gpt.hpp"
#include "nn/adamw.hpp"
#include "tests/check_helpers.hpp"
#include "tests/parity_helpers.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/cli/commands.hpp"
#include "train/formats/safetensors.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>



// ---------------------------------------------------------------------------
// 1. ops.safetensors: each op, forward and vector-Jacobian products.

namespace {

// The float inputs of one op case (leaves that require grad), and its indices.
struct OpInputs {
    Tensor x, y, b, v;
    Index idx;
};
using OpFn = std::function<Tensor(const OpInputs&)>;

// The README's table of cases, one line each, in its order.
const std::vector<std::pair<std::string, OpFn>>& op_cases() {
    static const std::vector<std::pair<std::string, OpFn>> cases = {
        {"add_bcast", [](const OpInputs& in) { return in.x + in.y; }},
        {"sub_bcast", [](const OpInputs& in) { return in.x - in.y; }},
        {"mul_bcast", [](const OpInputs& in) { return in.x * in.y; }},
        {"div_bcast", [](const OpInputs& in) { return in.x / in.y; }},
        {"add_scalar", [](const OpInputs& in) { return in.x + Scalar(2.5); }},
        {"mul_scalar", [](const OpInputs& in) { return in.x * Scalar(-1.5); }},
        {"rsub_scalar", [](const OpInputs& in) { return Scalar(1.0) - in.x; }},
        {"rdiv_scalar", [](const OpInputs& in) { return Scalar(2.0) / in.x; }},
        {"neg", [](const OpInputs& in) { return -in.x; }},
        {"pow", [](const OpInputs& in) { return pow(in.x, 3.0); }},
        {"pow_half", [](const OpInputs& in) { return pow(in.x, 0.5); }},
        {"pow_neg", [](const OpInputs& in) { return pow(in.x, -2.0); }},
        {"exp", [](const OpInputs& in) { return exp(in.x); }},
        {"log", [](const OpInputs& in) { return log(in.x); }},
        {"sqrt", [](const OpInputs& in) { return sqrt(in.x); }},
        {"tanh", [](const OpInputs& in) { return tanh(in.x); }},
        {"relu", [](const OpInputs& in) { return relu(in.x); }},
        {"sum_all", [](const OpInputs& in) { return sum(in.x); }},
        {"sum_dim1", [](const OpInputs& in) { return sum(in.x, 1); }},
        {"sum_dim_neg1_keep", [](const OpInputs& in) { return sum(in.x, -1, true); }},
        {"mean_all", [](const OpInputs& in) { return mean(in.x); }},
        {"mean_dim0", [](const OpInputs& in) { return mean(in.x, 0); }},
        {"mean_dim_neg1_keep", [](const OpInputs& in) { return mean(in.x, -1, true); }},
        {"max_dim1", [](const OpInputs& in) { return max(in.x, 1); }},
        {"max_dim_neg1_keep", [](const OpInputs& in) { return max(in.x, -1, true); }},
        {"view", [](const OpInputs& in) { return in.x.view({4, 6}); }},
        {"view_infer", [](const OpInputs& in) { return in.x.view({-1, 2}); }},
        {"transpose_neg", [](const OpInputs& in) { return in.x.transpose(-2, -1); }},
        {"transpose_01", [](const OpInputs& in) { return in.x.transpose(0, 1); }},
        {"cat_last", [](const OpInputs& in) { return cat({in.x, in.y}, -1); }},
        {"cat_0", [](const OpInputs& in) { return cat({in.x, in.y}, 0); }},
        {"slice_1", [](const OpInputs& in) { return slice(in.x, 1, 1, 4); }},        // x[:, 1:4, :]
        {"slice_last", [](const OpInputs& in) { return slice(in.x, -1, 2, 5); }},    // x[..., 2:5]
        {"matmul_2d", [](const OpInputs& in) { return matmul(in.x, in.y); }},
        {"matmul_3d", [](const OpInputs& in) { return matmul(in.x, in.y); }},
        {"matmul_3d_2d", [](const OpInputs& in) { return matmul(in.x, in.y); }},
        {"matmul_4d", [](const OpInputs& in) { return matmul(in.x, in.y); }},
        {"softmax_last", [](const OpInputs& in) { return softmax(in.x, -1); }},
        {"softmax_dim1", [](const OpInputs& in) { return softmax(in.x, 1); }},
        {"softmax_large", [](const OpInputs& in) { return softmax(in.x, -1); }},
        {"softmax_masked", [](const OpInputs& in) { return softmax(in.x.masked_fill(causal(4), -inf), -1); }},
        {"log_softmax_last", [](const OpInputs& in) { return log_softmax(in.x, -1); }},
        // near 1e3 float32 keeps 1e-5 only if x - max is taken before log(sum exp) is subtracted (README)
        {"log_softmax_large", [](const OpInputs& in) { return log_softmax(in.x, -1); }},
        {"masked_fill_causal", [](const OpInputs& in) { return in.x.masked_fill(causal(4), -inf); }},
        {"embedding", [](const OpInputs& in) { return embedding(in.x, in.idx); }},
        {"layer_norm", [](const OpInputs& in) { return layer_norm(in.x, in.y, in.b, Scalar(1e-5)); }},
        {"linear", [](const OpInputs& in) { return linear(in.x, in.y, in.b); }},
        {"linear_nobias", [](const OpInputs& in) { return linear(in.x, in.y, Tensor()); }},
        {"cross_entropy", [](const OpInputs& in) { return cross_entropy(in.x, in.idx); }},
        {"cross_entropy_large", [](const OpInputs& in) { return cross_entropy(in.x, in.idx); }},
        {"cross_entropy_1000", [](const OpInputs& in) { return cross_entropy(in.x, in.idx); }},  // likewise
        {"attention_head", [](const OpInputs& in) {  // Head.forward after the projections: q = x, k = y
             Tensor wei = matmul(in.x, in.y.transpose(-2, -1)) * std::pow(Scalar(3), Scalar(-0.5));
             return matmul(softmax(wei.masked_fill(causal(4), -inf), -1), in.v);
         }},
    };
    return cases;
}

}  // namespace

TEST_CASE("ops: forward and gradients of every op case match PyTorch") {
    const Fixture f("ops.safetensors");

    // The table covers exactly the file's cases.
    std::set<std::string> in_file, in_table;
    for (const auto& entry : f.file.tensors) {
        const std::string& key = entry.first;
        if (key.size() > 4 && key.compare(key.size() - 4, 4, ".out") == 0) in_file.insert(key.substr(0, key.size() - 4));
    }
    for (const auto& c : op_cases()) in_table.insert(c.first);
    CHECK(in_file == in_table);
    CHECK(in_table.size() == 52);

    Worst worst("ops");
    for (const auto& [name, fn] : op_cases()) {
        INFO("case " << name);
        OpInputs in;
        // One leaf per float input the file holds, with the name of its gradient.
        std::vector<std::pair<Tensor*, std::string>> inputs;
        for (auto [slot, letter] : {std::pair{&in.x, "x"}, std::pair{&in.y, "y"}, std::pair{&in.b, "b"},
                                    std::pair{&in.v, "v"}}) {
            if (!f.has(name + "." + letter)) continue;
            *slot = Tensor(f.floats(name + "." + letter), true);
            inputs.emplace_back(slot, std::string("d") + letter);
        }
        if (f.has(name + ".idx")) in.idx = f.ints(name + ".idx");
        REQUIRE(!inputs.empty());

        SeededGrads seeded;
        for (const auto& [t, grad_name] : inputs) seeded.seed(*t, f.floats(name + "." + grad_name));
        Tensor out = fn(in);
        worst.check(name + ".out", out.data(), f.floats(name + ".out"), op_tolerance);
        out.backward(f.floats(name + ".dout"));
        for (const auto& [t, grad_name] : inputs) {
            worst.check(name + "." + grad_name, seeded.added(*t), f.floats(name + "." + grad_name), op_tolerance);
        }
    }
    worst.report();
}

// ---------------------------------------------------------------------------
// 2. modules.safetensors: Head, MultiHeadAttention, FeedForward, Block.


TEST_CASE("modules: Head, MultiHeadAttention, FeedForward and Block match PyTorch") {
    const Fixture f("modules.safetensors");
    const GPTConfig config{1, 8, 16, 4, 1, 0.0};  // vocab_size, block_size, n_embd, n_head, n_layer, dropout
    Worst worst("modules");

    Head head(4, config);
    check_module(head, "head", head.named_buffers(), f, worst);
    MultiHeadAttention mha(4, 4, config);
    check_module(mha, "mha", mha.named_buffers(), f, worst);
    FeedForward ffwd(16, config);
    check_module(ffwd, "ffwd", {}, f, worst);
    Block block(16, 4, config);
    check_module(block, "block", block.named_buffers(), f, worst);
    worst.report();
}

// ---------------------------------------------------------------------------
// 3. gpt_small.safetensors: the whole model, logits, loss, every gradient.

namespace {

// A GPTLanguageModel with the fixture's config and weights (state-dict keys
// with `prefix`), strictly: every parameter and buffer present, nothing else.
std::unique_ptr<GPTLanguageModel> load_gpt(const Fixture& f, const std::string& prefix,
                                           const std::set<std::string>& other_keys) {
    const GPTConfig config = config_from_json(f.file.metadata.at("config"), f.name);
    auto model = std::make_unique<GPTLanguageModel>(config);
    std::set<std::string> file_keys = f.keys_under(prefix);
    for (const std::string& k : other_keys) file_keys.erase(k);
    std::set<std::string> keys = key_set(model->named_parameters()), buffers = key_set(model->named_buffers());
    keys.insert(buffers.begin(), buffers.end());
    CHECK(file_keys == keys);
    load_into(model->named_parameters(), f, prefix);
    load_into(model->named_buffers(), f, prefix);
    model->eval();
    return model;
}

}  // namespace

TEST_CASE("gpt_small: logits, loss and every parameter's gradient match PyTorch") {
    const Fixture f("gpt_small.safetensors");
    std::set<std::string> not_weights = {"idx", "targets", "logits", "loss"};
    for (const std::string& k : f.keys_under("grad.")) not_weights.insert("grad." + k);
    auto model = load_gpt(f, "", not_weights);
    CHECK(nn::count_parameters(model->named_parameters()) == 6987);

    Worst forward("gpt_small logits/loss"), grads("gpt_small gradients");
    const Index idx = f.ints("idx"), targets = f.ints("targets");
    SeededGrads seeded;
    for (auto [key, p] : model->named_parameters()) seeded.seed(p, f.floats("grad." + key));
    auto [logits, loss] = (*model)(idx, targets);
    const Array expected_logits = f.floats("logits");  // (B,T,V); the model returns the (B*T,V) view
    forward.check("logits", reshaped(logits.data(), expected_logits.shape()), expected_logits, module_tolerance);
    forward.check("loss", loss.data(), f.floats("loss"), module_tolerance);
    loss.backward();

    CHECK(f.keys_under("grad.") == key_set(model->named_parameters()));
    for (auto [key, p] : model->named_parameters()) {
        grads.check("grad." + key, seeded.added(p), f.floats("grad." + key), model_tolerance);
    }
    forward.report();
    grads.report();
}

// ---------------------------------------------------------------------------
// 4. adamw.safetensors: three AdamW steps (lr 1e-2) on the gpt_small model.

TEST_CASE("adamw: three AdamW steps give PyTorch's losses and weights") {
    const Fixture f("adamw.safetensors");
    GPTLanguageModel model(config_from_json(f.file.metadata.at("config"), f.name));
    Worst worst("adamw");
    check_adamw_steps(model, f, worst);
}

TEST_CASE("adamw: one AdamW step from PyTorch's own gradients gives PyTorch's weights") {
    // The optimizer alone, without xgrad's gradients: step 1 from gpt_small's
    // reference gradients (same model, weights and batch as adamw's step 1).
    // From exact inputs an elementwise update only rounds a few times in
    // float32: PyTorch's float32 AdamW reaches 1.9e-7 here, so 1e-6 is the
    // tolerance. (The three-step test above keeps 1e-4: AdamW divides each
    // gradient entry by its own magnitude, so the gradients' float32 error,
    // about 1e-6 of each tensor's largest entry, can grow on small entries.)
    const Fixture f("adamw.safetensors"), grads("gpt_small.safetensors");
    const GPTConfig config = config_from_json(f.file.metadata.at("config"), f.name);
    GPTLanguageModel model(config);
    load_into(model.named_parameters(), f, "init.");
    nn::AdamWOptions options;
    options.lr = 1e-2;
    nn::AdamW optimizer(model.named_parameters(), options);
    for (auto [key, p] : model.named_parameters()) p.grad() = grads.floats("grad." + key);
    optimizer.step();
    Worst worst("adamw (one step from PyTorch's gradients)");
    for (auto [key, p] : model.named_parameters()) worst.check("step1." + key, p.data(), f.floats("step1." + key), 1e-6);
    worst.report();
}

// ---------------------------------------------------------------------------
// 5. init_stats.json: xgrad's initialisation against PyTorch's, statistically.

namespace {

// The kind of a parameter, as make_fixtures.py's param_kinds() sorts them.
std::string param_kind(const std::string& name) {
    const bool weight = name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    if (name.rfind("token_embedding_table.", 0) == 0 || name.rfind("position_embedding_table.", 0) == 0) {
        return "embedding_weight";
    }
    if (name.find("ln1.") != std::string::npos || name.find("ln2.") != std::string::npos ||
        name.rfind("ln_f.", 0) == 0) {
        return weight ? "layernorm_weight" : "layernorm_bias";
    }
    return weight ? "linear_weight" : "linear_bias";
}

struct KindStats {
    double sum = 0, sum_sq = 0;
    std::size_t numel = 0, tensors = 0;
};

}  // namespace

TEST_CASE("init_stats: a fresh model's initialisation is PyTorch's, and so are the parameter counts") {
    std::ifstream in(fixture_path("init_stats.json"));
    REQUIRE(in);
    const nlohmann::json stats = nlohmann::json::parse(in);

    for (const std::string name : {"tiny", "lecture"}) {
        INFO("config " << name);
        const nlohmann::json& c = stats.at("configs").at(name);
        const GPTConfig config = config_from_json(c.at("config").dump(), "init_stats.json");
        manual_seed(c.at("seed").get<std::uint64_t>());  // a different generator than torch's: another draw
        GPTLanguageModel model(config);
        CHECK(nn::count_parameters(model.named_parameters()) == c.at("param_count").get<std::size_t>());

        // Mean and population std per kind, in double, over all elements of all its tensors.
        std::map<std::string, KindStats> kinds;
        for (const auto& [key, p] : model.named_parameters()) {
            KindStats& k = kinds[param_kind(key)];
            for (Scalar v : p.data()) k.sum += v, k.sum_sq += double(v) * double(v);
            k.numel += p.numel();
            ++k.tensors;
        }
        CHECK(kinds.size() == c.at("kinds").size());
        for (const auto& [kind, ref] : c.at("kinds").items()) {
            INFO("kind " << kind);
            const KindStats& k = kinds[kind];
            CHECK(k.numel == ref.at("numel").get<std::size_t>());
            CHECK(k.tensors == ref.at("tensors").get<std::size_t>());
            const double n = static_cast<double>(k.numel);
            const double mean = k.sum / n, std = std::sqrt(std::max(0.0, k.sum_sq / n - mean * mean));
            const double ref_mean = ref.at("mean"), ref_std = ref.at("std");
            // Two independent draws of n normals: their means differ by about
            // sqrt(2/n) * std and their stds by about std / sqrt(n) (one
            // standard error each); allow 5 of them, and at least 3e-4 / 3%.
            const double mean_tol = std::max(3e-4, 5 * std::sqrt(2 / n) * ref_std);
            const double std_tol = std::max(0.03, 5 / std::sqrt(n)) * ref_std;
            MESSAGE("init_stats " << name << " " << kind << ": mean " << mean << " (torch " << ref_mean
                                  << ", |diff| " << std::abs(mean - ref_mean) << " <= " << mean_tol << "), std " << std
                                  << " (torch " << ref_std << ", relative diff "
                                  << (ref_std > 0 ? std::abs(std - ref_std) / ref_std : std::abs(std - ref_std))
                                  << ")");
            CHECK(std::abs(mean - ref_mean) <= mean_tol);
            if (ref_std == 0) {
                CHECK(std == 0);  // biases and LayerNorm: constants, exactly
                CHECK(mean == ref_mean);
            } else {
                CHECK(std::abs(std - ref_std) <= std_tol);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 6. Weights both ways.

namespace {

// A scratch directory, removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        path = std::filesystem::temp_directory_path() / ("xgrad-parity-" + std::to_string(::getpid()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

}  // namespace

TEST_CASE("torch_checkpoint: a PyTorch state_dict loads with load_checkpoint and gives PyTorch's numbers") {
    const std::string ckpt = fixture_path("torch_checkpoint.safetensors");
    const std::string batch_path = fixture_path("torch_checkpoint_batch.safetensors");
    const Fixture batch("torch_checkpoint_batch.safetensors"), expected("torch_checkpoint_expected.safetensors");

    LoadedCheckpoint ck = load_checkpoint(ckpt);
    CHECK(ck.model_type == "gpt");  // PyTorch wrote no "model" key
    CHECK(ck.model->config.vocab_size == 13);
    CHECK(ck.model->config.n_head == 2);
    CHECK(ck.model->config.dropout == doctest::Approx(0.1));
    CHECK(ck.tokenizer.chars() == U"\t\n !,.Tacehl\u00e9");

    Worst worst("torch_checkpoint (load_checkpoint)");
    check_against(*ck.model, batch.ints("x"), batch.ints("y"), expected, worst);
}

TEST_CASE("torch_checkpoint: the command line, xgrad grad, writes PyTorch's loss, logits and gradients") {
    const std::string ckpt = fixture_path("torch_checkpoint.safetensors");
    const std::string batch_path = fixture_path("torch_checkpoint_batch.safetensors");
    const Fixture expected("torch_checkpoint_expected.safetensors");
    TempDir dir;
    const std::string out_path = dir / "grads.safetensors";
    xgrad::grad(ckpt, batch_path, out_path);
    const Fixture out("xgrad grad's output", st::load(out_path));

    std::set<std::string> want = expected.keys_under("grad.");
    want.insert("loss");
    want.insert("logits");
    CHECK(out.keys_under("") == want);  // the gradients under the parameters' own names
    Worst worst("torch_checkpoint (xgrad grad)");
    worst.check("logits", out.floats("logits"), expected.floats("logits"), module_tolerance);
    worst.check("loss", out.floats("loss"), expected.floats("loss"), module_tolerance);
    for (const std::string& key : expected.keys_under("grad.")) {
        worst.check(key, out.floats(key), expected.floats("grad." + key), model_tolerance);
    }
    worst.report();
}

TEST_CASE("xgrad_checkpoint: a checkpoint xgrad wrote gives, in PyTorch, the logits xgrad computes") {
    // make_fixtures.py loaded this file into the lecture's PyTorch model with
    // load_state_dict(strict=True) and stored its outputs on a fixed batch.
    const Fixture expected("xgrad_checkpoint_expected.safetensors");
    LoadedCheckpoint ck = load_checkpoint(fixture_path("xgrad_checkpoint.safetensors"));
    CHECK(ck.model_type == "gpt");
    CHECK(ck.corpus == "built-in");
    CHECK(config_to_json(ck.model->config) ==
          config_to_json(config_from_json(expected.file.metadata.at("config"), expected.name)));

    Worst worst("xgrad_checkpoint");
    check_against(*ck.model, expected.ints("x"), expected.ints("y"), expected, worst);
}

TEST_CASE("xgrad_checkpoint: today's writer still writes what PyTorch loaded (the same keys, shapes and metadata)") {
    // The committed file was loaded by PyTorch with strict=True; a checkpoint
    // written now, from the same model, must have the same layout.
    LoadedCheckpoint ck = load_checkpoint(fixture_path("xgrad_checkpoint.safetensors"));
    TempDir dir;
    const std::string again = dir / "again.safetensors";
    save_checkpoint(*ck.model, ck.model_type, ck.tokenizer, ck.corpus, again);
    const st::File old_file = st::load(fixture_path("xgrad_checkpoint.safetensors")), new_file = st::load(again);
    REQUIRE(old_file.tensors.size() == new_file.tensors.size());
    for (const auto& [name, t] : old_file.tensors) {
        INFO(name);
        REQUIRE(new_file.tensors.count(name) == 1);
        CHECK(new_file.tensors.at(name).shape == t.shape);
        CHECK(new_file.tensors.at(name).bytes == t.bytes);  // the same weights, bit for bit
    }
    for (const char* key : {"config", "vocab"}) CHECK(new_file.metadata.at(key) == old_file.metadata.at(key));
}

TEST_CASE("torch_checkpoint: xgrad sample works on a checkpoint PyTorch wrote") {
    SampleOptions o;
    o.checkpoint = fixture_path("torch_checkpoint.safetensors");
    o.prompt = "Tea";
    o.tokens = 40;
    std::ostringstream a, b;
    sample(o, a);
    sample(o, b);
    CHECK(a.str() == b.str());  // seeded
    CHECK(a.str().rfind("Tea", 0) == 0);
    // every character comes from the checkpoint's vocabulary
    const std::u32string text = decode_utf8(a.str(), "sample");
    const std::u32string vocab = U"\t\n !,.Tacehl\u00e9";
    CHECK(text.size() == 3 + 40 + 1);  // prompt, 40 tokens, the final newline
    for (char32_t c : text) CHECK(vocab.find(c) != std::u32string::npos);
}

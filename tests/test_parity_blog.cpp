// PyTorch parity for the blog's GPT (models/blog_gpt.hpp): its modules, the
// whole model's logits, loss and gradients, three AdamW steps, the
// statistics of its default initialisation, and a checkpoint written from
// the blog's PyTorch model. The fixtures were written by
// tests/reference/make_blog_fixtures.py from tests/reference/blog_model.py;
// their config has head_size 4 and n_embd 16, so the blog's scale (C ** -0.5
// = 0.25) and the lecture's (hs ** -0.5 = 0.5) differ and only the right one
// passes.
#include "models/blog_gpt.hpp"
#include "nn/adamw.hpp"
#include "tests/parity_helpers.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace {

const GPTConfig& fixture_config() {
    static const GPTConfig c = config_from_json(Fixture("blog_gpt.safetensors").file.metadata.at("config"), "blog_gpt");
    return c;
}

}  // namespace

TEST_CASE("blog modules: Head (scaled by C), MultiHeadAttention, FeedForward and Block match the blog's PyTorch") {
    const Fixture f("blog_modules.safetensors");
    const GPTConfig config = blog_config(fixture_config());
    Worst worst("blog modules");
    Head head(4, config);
    CHECK(head.scale == AttentionScale::n_embd);
    check_module(head, "head", head.named_buffers(), f, worst);
    MultiHeadAttention mha(4, 4, config);
    check_module(mha, "mha", mha.named_buffers(), f, worst);
    FeedForward ffwd(16, config);
    check_module(ffwd, "ffwd", {}, f, worst);
    Block block(16, 4, config);
    check_module(block, "block", block.named_buffers(), f, worst);
    worst.report();

    // the lecture's scale on the same weights does not pass: the test can tell the two apart
    head.scale = AttentionScale::head_size;
    const Tensor out = head(Tensor(f.floats("head.x")));
    CHECK(xt::amax(xt::abs(out.data() - f.floats("head.out")))() > 1e-2);
}

TEST_CASE("blog_gpt: the blog's GPT gives PyTorch's logits, loss and every gradient") {
    const Fixture f("blog_gpt.safetensors");
    GPT model(fixture_config());
    std::set<std::string> keys = key_set(model.named_parameters()), buffers = key_set(model.named_buffers());
    keys.insert(buffers.begin(), buffers.end());
    CHECK(f.keys_under("param.") == keys);  // strict: the blog's state-dict keys, each tril included
    load_into(model.named_parameters(), f, "param.");
    load_into(model.named_buffers(), f, "param.");
    Worst worst("blog_gpt");
    check_against(model, f.ints("idx"), f.ints("targets"), f, worst);
}

TEST_CASE("blog_adamw: three AdamW steps on the blog's GPT give PyTorch's losses and weights") {
    const Fixture f("blog_adamw.safetensors");
    GPT model(fixture_config());
    Worst worst("blog_adamw");
    check_adamw_steps(model, f, worst);
}

TEST_CASE("blog_init_stats: the blog's GPT starts as PyTorch's defaults make it") {
    std::ifstream in(fixture_path("blog_init_stats.json"));
    REQUIRE(in);
    const nlohmann::json stats = nlohmann::json::parse(in);
    for (const std::string name : {"blog", "small"}) {
        INFO("config " << name);
        const nlohmann::json& c = stats.at("configs").at(name);
        const GPTConfig config = config_from_json(c.at("config").dump(), "blog_init_stats.json");
        manual_seed(7);  // another generator than torch's: another draw of the same distributions
        GPT model(config);
        CHECK(nn::count_parameters(model.named_parameters()) == c.at("param_count").get<std::size_t>());
        std::map<std::string, Tensor> by_key;
        for (const auto& [key, p] : model.named_parameters()) by_key.emplace(key, p);
        std::size_t keys_seen = 0;
        for (const auto& [kind, ref] : c.at("kinds").items()) {
            INFO("kind " << kind);
            double sum = 0, sum_sq = 0, lo = INFINITY, hi = -INFINITY;
            std::size_t n = 0;
            for (const std::string key : ref.at("keys")) {
                REQUIRE(by_key.count(key) == 1);
                ++keys_seen;
                for (const Scalar v : by_key.at(key).data()) {
                    sum += v, sum_sq += double(v) * v, ++n;
                    lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
                }
            }
            CHECK(n == ref.at("numel").get<std::size_t>());
            const double mean = sum / double(n), std = std::sqrt(std::max(0.0, sum_sq / double(n) - mean * mean));
            const double expected_mean = ref.at("expected_mean"), expected_std = ref.at("expected_std");
            MESSAGE("blog init " << name << " " << kind << ": mean " << mean << " (PyTorch's default " << expected_mean
                                 << "), std " << std << " (" << expected_std << "), min " << lo << ", max " << hi);
            if (expected_std == 0) {
                CHECK(lo == expected_mean);  // LayerNorm's ones and zeros, exactly
                CHECK(hi == expected_mean);
                continue;
            }
            // five standard errors of one draw (the fixture's own estimates of them)
            CHECK(std::abs(mean - expected_mean) <= 5 * ref.at("expected_se_mean").get<double>() + 1e-9);
            CHECK(std::abs(std - expected_std) <= 5 * ref.at("expected_se_std").get<double>() + 1e-9);
            if (!ref.at("bound").is_null()) {  // uniform in +-1/sqrt(fan_in): inside, and reaching near the edges
                const double bound = ref.at("bound");
                CHECK(hi <= bound);
                CHECK(lo >= -bound);
                if (n >= 1000) CHECK(hi > 0.95 * bound);
            }
        }
        CHECK(keys_seen == model.named_parameters().size());
    }
}

TEST_CASE("blog_torch_checkpoint: the blog's PyTorch state_dict loads as a blog model and gives PyTorch's numbers") {
    LoadedCheckpoint ck = load_checkpoint(fixture_path("blog_torch_checkpoint.safetensors"));
    CHECK(ck.model_type == "blog");
    CHECK(dynamic_cast<GPT*>(ck.model.get()) != nullptr);
    CHECK(ck.model->config.dropout == doctest::Approx(0.1));
    const Fixture expected("blog_torch_checkpoint_expected.safetensors");
    Worst worst("blog_torch_checkpoint");
    check_against(*ck.model, expected.ints("x"), expected.ints("y"), expected, worst);
}

TEST_CASE("blog_xgrad_checkpoint: a blog checkpoint xgrad wrote gives, in the blog's PyTorch model, the numbers xgrad computes") {
    // make_blog_fixtures.py loaded this file into blog_model.py's GPT with
    // load_state_dict(strict=True) and stored its outputs on a fixed batch.
    const Fixture expected("blog_xgrad_checkpoint_expected.safetensors");
    LoadedCheckpoint ck = load_checkpoint(fixture_path("blog_xgrad_checkpoint.safetensors"));
    CHECK(ck.model_type == "blog");
    CHECK(ck.corpus == "built-in");
    Worst worst("blog_xgrad_checkpoint");
    check_against(*ck.model, expected.ints("x"), expected.ints("y"), expected, worst);

    // and today's writer writes the same layout, bit for bit
    const std::string again = (std::filesystem::temp_directory_path() / ("xgrad-blog-" + std::to_string(::getpid()))).string();
    save_checkpoint(*ck.model, ck.model_type, ck.tokenizer, ck.corpus, again);
    const st::File old_file = st::load(fixture_path("blog_xgrad_checkpoint.safetensors")), new_file = st::load(again);
    std::filesystem::remove(again);
    REQUIRE(old_file.tensors.size() == new_file.tensors.size());
    for (const auto& [name, t] : old_file.tensors) {
        INFO(name);
        REQUIRE(new_file.tensors.count(name) == 1);
        CHECK(new_file.tensors.at(name).bytes == t.bytes);
    }
    for (const char* key : {"config", "vocab", "model"}) CHECK(new_file.metadata.at(key) == old_file.metadata.at(key));
}

// xgrad heads against PyTorch: the attention, loss, ablation, importance and
// induction scores of two checkpoints (the lecture's model and the blog's)
// on a fixed text, as tests/reference/make_heads_fixtures.py computed them
// with PyTorch's own forward (hooks on each Head, gates before the cat).
#include "models/hooks.hpp"
#include "tests/parity_helpers.hpp"
#include "train/analysis/head_scores.hpp"
#include "train/analysis/heads.hpp"

using namespace xgrad::analysis;

TEST_CASE("heads: attention, loss, ablation, importance and induction match PyTorch, for the lecture's and the blog's GPT") {
    for (const auto& [fixture, checkpoint] : {std::pair{"heads_lecture.safetensors", "torch_checkpoint.safetensors"},
                                              std::pair{"heads_blog.safetensors", "blog_torch_checkpoint.safetensors"}}) {
        INFO(fixture);
        const Fixture f(fixture);
        LoadedCheckpoint ck = load_checkpoint(fixture_path(checkpoint));
        const std::u32string text = decode_utf8(f.file.metadata.at("text"), "text");
        HeadsOptions options;
        options.windows = 3;
        const HeadsReport r = analyse_heads(*ck.model, ck.tokenizer, text, options);
        REQUIRE(r.windows == 3);
        Worst worst(std::string("heads vs PyTorch, ") + fixture);
        worst.check("loss", Array{Scalar(r.base_loss)}, Array{f.floats("loss")()}, 1e-5);
        double worst_ablation = 0;
        for (std::size_t k = 0; k < r.heads.size(); ++k) {
            const std::string lh = std::to_string(r.heads[k].layer) + "." + std::to_string(r.heads[k].head);
            Array att = Array::from_shape({3, 8, 8});
            for (std::size_t w = 0; w < 3; ++w) std::copy_n(r.attention[k][w].data(), 64, att.data() + w * 64);
            worst.check("attention." + lh, att, f.floats("attention." + lh), 1e-5);
            worst.check("importance." + lh, Array{Scalar(r.heads[k].importance)}, Array{f.floats("importance." + lh)()}, 1e-4);
            // a difference of two losses of about 2.7: compared in absolute terms (the fixture's README says why)
            const double ablation_error = std::abs(r.heads[k].ablation - double(f.floats("ablation." + lh)()));
            worst_ablation = std::max(worst_ablation, ablation_error);
            CHECK(ablation_error < 1e-5);
        }
        MESSAGE(std::string(fixture) << ": largest ablation difference " << worst_ablation << " (absolute)");
        // induction on PyTorch's own repeated sequence
        const Index seq = f.ints("induction.seq");
        const std::size_t R = seq.shape()[1] / 2;
        NoGradGuard no_grad;
        AttentionCapture capture;
        (*ck.model)(seq);
        REQUIRE(capture.weights.size() == r.heads.size());
        for (std::size_t k = 0; k < r.heads.size(); ++k) {
            const std::string lh = std::to_string(r.heads[k].layer) + "." + std::to_string(r.heads[k].head);
            worst.check("induction.attention." + lh, capture.weights[k].data(), f.floats("induction.attention." + lh), 1e-5);
            Array A = capture.weights[k].data();
            A.reshape({2 * R, 2 * R});
            worst.check("induction.score." + lh, Array{Scalar(induction(A, R))}, Array{f.floats("induction.score." + lh)()}, 1e-5);
        }
        // every head of a layer off: what is left of the attention branch is the projection's bias
        for (std::size_t layer = 0; layer < 2; ++layer) {
            HeadGates gates(r.heads.size());
            for (std::size_t k = 0; k < r.heads.size(); ++k) {
                if (r.heads[k].layer == layer) gates.gate[k].data()(0) = 0;
            }
            const Array logits = (*ck.model)(f.ints("x")).logits.data();
            worst.check("ablate_all." + std::to_string(layer), logits, f.floats("ablate_all." + std::to_string(layer)), 1e-5);
        }
        worst.report();
    }
}

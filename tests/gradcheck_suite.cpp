// The list of gradient checks: see gradcheck_suite.hpp. Each check is a
// function of its own inputs (seeded), so a check can run alone.
#include "tests/gradcheck_suite.hpp"

#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "models/blog_gpt.hpp"
#include "models/gpt.hpp"
#include "models/hooks.hpp"
#include "models/stages.hpp"
#include "tests/random_tensors.hpp"

#include <cctype>
#include <cmath>
#include <functional>
#include <limits>

namespace gradcheck_suite {

namespace {

using namespace xgrad;

const Scalar inf = std::numeric_limits<Scalar>::infinity();

// The causal mask: true above the diagonal (where tril == 0).
Mask causal_mask(std::size_t T) {
    Mask m = Mask::from_shape({T, T});
    for (std::size_t i = 0; i < T; ++i) {
        for (std::size_t j = 0; j < T; ++j) m(i, j) = j > i;
    }
    return m;
}

// Module weights ~ normal(0, 0.3) on top of the lecture's init, so attention
// is far from uniform and every path carries a gradient worth checking.
std::vector<std::pair<std::string, Tensor>> scaled_parameters(const nn::NamedTensors& params, unsigned seed) {
    std::vector<std::pair<std::string, Tensor>> wrt;
    unsigned k = seed;
    for (auto [name, t] : params) {
        t.data() = t.data() + test::randn(t.shape(), ++k).data() * Scalar(0.3);
        wrt.emplace_back(name, t);
    }
    return wrt;
}

// One module on a (2, 5, 8) input: its gradient with respect to the input
// and to every parameter (scaled up, see scaled_parameters).
template <class Module>
GradcheckResult check_module(const std::string& name, const Module& m, const nn::NamedTensors& params,
                             unsigned input_seed, unsigned param_seed) {
    Tensor x = test::randn({2, 5, 8}, input_seed);
    auto wrt = scaled_parameters(params, param_seed);
    wrt.emplace_back("x", x);
    return gradcheck(name, [&] { return m(x); }, wrt);
}

struct Check {
    std::string name, group;
    std::function<GradcheckResult()> run;
};

std::vector<Check> checks() {
    std::vector<Check> all;
    auto op = [&](const std::string& name, std::function<GradcheckResult()> f) { all.push_back({name, "op", f}); };
    auto module = [&](const std::string& name, std::function<GradcheckResult()> f) { all.push_back({name, "module", f}); };

    // --- arithmetic, with broadcasting -------------------------------------
    op("add (2,3,4) + (4)", [] {
        Tensor a = test::randn({2, 3, 4}, 3), b = test::randn({4}, 4);
        return gradcheck("add (2,3,4) + (4)", [&] { return add(a, b); }, {{"a", a}, {"b", b}});
    });
    op("sub (2,1,4) - (3,1)", [] {
        Tensor a = test::randn({2, 1, 4}, 7), b = test::randn({3, 1}, 6);
        return gradcheck("sub (2,1,4) - (3,1)", [&] { return sub(a, b); }, {{"a", a}, {"b", b}});
    });
    op("mul (2,3,4) * (1,3,1)", [] {
        Tensor a = test::randn({2, 3, 4}, 3), b = test::randn({1, 3, 1}, 5);
        return gradcheck("mul (2,3,4) * (1,3,1)", [&] { return mul(a, b); }, {{"a", a}, {"b", b}});
    });
    op("div (2,3,4) / (3,1)", [] {
        Tensor a = test::randn({2, 3, 4}, 3), b = test::uniform({3, 1}, 0.5, 2.0, 6);
        return gradcheck("div (2,3,4) / (3,1)", [&] { return div(a, b); }, {{"a", a}, {"b", b}});
    });
    op("scalar forms: a + 2.5, a * -1.5, 1 - a, 2 / a", [] {
        Tensor a = test::uniform({3, 4}, 0.5, 2.0, 10);
        return gradcheck("scalar forms", [&] { return cat({a + Scalar(2.5), a * Scalar(-1.5), Scalar(1) - a,
                                                           Scalar(2) / a}, 0); }, {{"a", a}});
    });
    op("neg", [] {
        Tensor a = test::randn({3, 4}, 8);
        return gradcheck("neg", [&] { return -a; }, {{"a", a}});
    });
    op("a tensor used twice: a * a + a", [] {
        Tensor a = test::randn({3, 4}, 8);
        return gradcheck("a * a + a", [&] { return a * a + a; }, {{"a", a}});
    });
    op("one input feeding three branches", [] {
        Tensor a = test::randn({3, 4}, 8), w = test::randn({5, 4}, 9);
        return gradcheck("shared input", [&] { return cat({linear(a, w, {}), relu(a), exp(a)}, -1); },
                         {{"a", a}, {"w", w}});
    });

    // --- unary functions ----------------------------------------------------
    for (double p : {3.0, 0.5, -2.0}) {
        op("pow " + std::to_string(p).substr(0, 4), [p] {
            Tensor a = test::uniform({3, 4}, 0.5, 2.0, 10);
            return gradcheck("pow", [&] { return pow(a, Scalar(p)); }, {{"x", a}});
        });
    }
    op("exp", [] {
        Tensor x = test::uniform({3, 4}, -3, 3, 11);
        return gradcheck("exp", [&] { return exp(x); }, {{"x", x}});
    });
    op("log", [] {
        Tensor x = test::uniform({3, 4}, 0.1, 5, 12);
        return gradcheck("log", [&] { return log(x); }, {{"x", x}});
    });
    op("sqrt", [] {
        Tensor x = test::uniform({3, 4}, 0.5, 2.0, 13);
        return gradcheck("sqrt", [&] { return sqrt(x); }, {{"x", x}});
    });
    op("tanh", [] {
        Tensor x = test::uniform({3, 4}, -3, 3, 14);
        return gradcheck("tanh", [&] { return tanh(x); }, {{"x", x}});
    });
    op("relu", [] {
        Tensor x = test::away_from_zero({3, 4}, 12);  // relu has a kink at 0
        return gradcheck("relu", [&] { return relu(x); }, {{"x", x}});
    });

    // --- reductions ---------------------------------------------------------
    struct Reduction {
        const char* name;
        std::function<Tensor(const Tensor&)> f;
    };
    for (const Reduction& r : std::vector<Reduction>{
             {"sum", [](const Tensor& a) { return sum(a); }},
             {"sum dim 1", [](const Tensor& a) { return sum(a, 1); }},
             {"sum dim -1 keepdim", [](const Tensor& a) { return sum(a, -1, true); }},
             {"mean", [](const Tensor& a) { return mean(a); }},
             {"mean dim 0", [](const Tensor& a) { return mean(a, 0); }},
             {"mean dim -1 keepdim", [](const Tensor& a) { return mean(a, -1, true); }},
             {"max dim 1", [](const Tensor& a) { return max(a, 1); }},
             {"max dim -1 keepdim", [](const Tensor& a) { return max(a, -1, true); }}}) {
        op(r.name, [r] {
            Tensor a = test::randn({2, 3, 4}, 13);
            return gradcheck(r.name, [&] { return r.f(a); }, {{"x", a}});
        });
    }

    // --- shape ops ------------------------------------------------------------
    op("view (2,3,4) -> (4,6)", [] {
        Tensor a = test::randn({2, 3, 4}, 14);
        return gradcheck("view", [&] { return a.view({4, 6}); }, {{"x", a}});
    });
    op("view (2,3,4) -> (-1,2)", [] {
        Tensor a = test::randn({2, 3, 4}, 14);
        return gradcheck("view -1", [&] { return a.view({-1, 2}); }, {{"x", a}});
    });
    op("transpose(-2, -1)", [] {
        Tensor a = test::randn({2, 3, 4}, 14);
        return gradcheck("transpose", [&] { return a.transpose(-2, -1); }, {{"x", a}});
    });
    op("transpose(0, 1)", [] {
        Tensor a = test::randn({2, 3, 4}, 14);
        return gradcheck("transpose", [&] { return a.transpose(0, 1); }, {{"x", a}});
    });
    op("cat dim -1", [] {
        Tensor a = test::randn({2, 3, 4}, 14), b = test::randn({2, 3, 2}, 15);
        return gradcheck("cat", [&] { return cat({a, b}, -1); }, {{"a", a}, {"b", b}});
    });
    op("cat dim 0 of one tensor twice", [] {
        Tensor a = test::randn({2, 3, 4}, 14);
        return gradcheck("cat", [&] { return cat({a, a}, 0); }, {{"a", a}});
    });
    op("slice dim 1 [1, 4)", [] {
        Tensor a = test::randn({2, 5, 3}, 16);
        return gradcheck("slice", [&] { return slice(a, 1, 1, 4); }, {{"x", a}});
    });
    op("slice dim -1 [0, 2)", [] {
        Tensor a = test::randn({2, 5, 3}, 16);
        return gradcheck("slice", [&] { return slice(a, -1, 0, 2); }, {{"x", a}});
    });

    // --- matrix products ---------------------------------------------------------
    struct MatmulCase {
        const char* name;
        Shape a, b;
    };
    for (const MatmulCase& m : std::vector<MatmulCase>{{"matmul (3,4) @ (4,5)", {3, 4}, {4, 5}},
                                                       {"matmul (2,3,4) @ (2,4,5)", {2, 3, 4}, {2, 4, 5}},
                                                       {"matmul (2,3,4) @ (4,5)", {2, 3, 4}, {4, 5}},
                                                       {"matmul (2,2,3,4) @ (2,2,4,3)", {2, 2, 3, 4}, {2, 2, 4, 3}},
                                                       {"matmul (2,2,3,4) @ (4,3)", {2, 2, 3, 4}, {4, 3}}}) {
        op(m.name, [m] {
            Tensor a = test::randn(m.a, 17), b = test::randn(m.b, 18);
            return gradcheck(m.name, [&] { return matmul(a, b); }, {{"a", a}, {"b", b}});
        });
    }
    op("matmul a @ a.T", [] {
        Tensor a = test::randn({2, 3, 4}, 19);
        return gradcheck("matmul a @ a.T", [&] { return matmul(a, a.transpose(-2, -1)); }, {{"a", a}});
    });
    op("linear", [] {
        Tensor x = test::randn({2, 3, 4}, 23), w = test::randn({5, 4}, 24), b = test::randn({5}, 25);
        return gradcheck("linear", [&] { return linear(x, w, b); }, {{"x", x}, {"weight", w}, {"bias", b}});
    });
    op("linear without bias", [] {
        Tensor x = test::randn({2, 3, 4}, 23), w = test::randn({5, 4}, 24);
        return gradcheck("linear", [&] { return linear(x, w, {}); }, {{"x", x}, {"weight", w}});
    });

    // --- neural-network ops --------------------------------------------------------
    op("layer_norm", [] {
        Tensor h = test::randn({2, 3, 8}, 26), g = test::uniform({8}, 0.5, 1.5, 27), beta = test::randn({8}, 28);
        h.data() = h.data() * Scalar(3) + Scalar(5);  // rows far from zero mean and unit variance
        return gradcheck("layer_norm", [&] { return layer_norm(h, g, beta); }, {{"x", h}, {"weight", g}, {"bias", beta}});
    });
    op("embedding with repeated indices", [] {
        Tensor table = test::randn({7, 3}, 29);
        const Index idx = {{1, 3, 1, 6, 1}, {0, 3, 3, 2, 6}};
        return gradcheck("embedding", [&] { return embedding(table, idx); }, {{"weight", table}});
    });
    op("cross_entropy", [] {
        Tensor logits = test::randn({6, 5}, 30);
        const Index targets = {0, 4, 2, 2, 1, 3};
        return gradcheck("cross_entropy", [&] { return cross_entropy(logits, targets); }, {{"logits", logits}});
    });
    op("cross_entropy on logits of +-50", [] {
        Tensor logits = test::randn({6, 5}, 31);
        logits.data() *= Scalar(50);
        const Index targets = {0, 4, 2, 2, 1, 3};
        return gradcheck("cross_entropy", [&] { return cross_entropy(logits, targets); }, {{"logits", logits}});
    });
    op("softmax dim -1", [] {
        Tensor a = test::randn({2, 3, 5}, 32);
        return gradcheck("softmax", [&] { return softmax(a, -1); }, {{"x", a}});
    });
    op("softmax dim 1", [] {
        Tensor a = test::randn({2, 3, 5}, 32);
        return gradcheck("softmax", [&] { return softmax(a, 1); }, {{"x", a}});
    });
    op("softmax of values near 1000", [] {
        Tensor a = test::randn({2, 6}, 33);
        a.data() = a.data() + Scalar(1000);  // exp would overflow without the max shift
        return gradcheck("softmax", [&] { return softmax(a, -1); }, {{"x", a}});
    });
    op("log_softmax dim -1", [] {
        Tensor a = test::randn({2, 3, 5}, 32);
        return gradcheck("log_softmax", [&] { return log_softmax(a, -1); }, {{"x", a}});
    });
    op("log_softmax dim 0", [] {
        Tensor a = test::randn({2, 3, 5}, 32);
        return gradcheck("log_softmax", [&] { return log_softmax(a, 0); }, {{"x", a}});
    });
    op("log_softmax of values near 1000", [] {
        Tensor a = test::randn({2, 6}, 33);
        a.data() = a.data() + Scalar(1000);
        return gradcheck("log_softmax", [&] { return log_softmax(a, -1); }, {{"x", a}});
    });
    op("softmax after the causal mask (rows of -inf but one)", [] {
        Tensor s = test::randn({4, 4}, 34);
        return gradcheck("masked softmax", [&] { return softmax(masked_fill(s, causal_mask(4), -inf), -1); }, {{"x", s}});
    });
    op("masked_fill, broadcast causal mask, -inf", [] {
        Tensor a = test::randn({2, 4, 4}, 35);
        return gradcheck("masked_fill", [&] { return masked_fill(a, causal_mask(4), -inf); }, {{"x", a}});
    });
    op("every op on intermediates, whose values the engine may free", [] {
        // The checks above give each op leaves as inputs, and a leaf's values
        // are never freed. Here every input and output is an intermediate
        // (t * 1), freed as soon as no handle and no backward needs it: an op
        // whose backward read freed values would fail here (and under ASan).
        Tensor a = test::uniform({3, 4}, 0.5, 2.0, 40), b = test::uniform({3, 4}, 0.5, 2.0, 41);
        Tensor w = test::randn({5, 4}, 42), g = test::randn({4}, 43), beta = test::randn({4}, 44);
        const Scalar one = 1;
        auto flat = [&](const Tensor& t) { return view(t * one, {-1}); };
        return gradcheck("ops on intermediates", [&] {
            const Tensor x = a * one, y = b * one;
            Generator gen(7);
            return cat({flat(x + y), flat(x - y), flat(x * y), flat(x / y), flat(pow(x * one, Scalar(1.5))),
                         flat(exp(x * one)), flat(log(x * one)), flat(sqrt(x * one)), flat(tanh(x * one)),
                         flat(relu(x * one - Scalar(1.25))), flat(-(x * one)), flat(Scalar(2) / (x * one)),
                         flat(Scalar(1) - x * one), flat(x * one + Scalar(1)), flat(softmax(x * one, -1)),
                         flat(log_softmax(x * one, 0)), flat(sum(x * one, 1, true)), flat(mean(x * one, 0)),
                         flat(max(x * one, 1)), flat(sum(x * one)), flat(mean(x * one)),
                         flat(transpose(x * one, 0, 1)), flat(slice(x * one, 1, 1, 3)),
                         flat(matmul(x * one, transpose(y * one, 0, 1))), flat(linear(x * one, w * one, {})),
                         flat(layer_norm(x * one, g * one, beta * one)),
                         flat(masked_fill(matmul(x * one, transpose(y * one, 0, 1)), causal_mask(3), Scalar(0))),
                         flat(dropout(x * one, Scalar(0.3), true, gen))}, 0);
        }, {{"a", a}, {"b", b}, {"w", w}, {"g", g}, {"beta", beta}});
    });
    op("dropout p=0.3 with a fixed mask", [] {
        Tensor a = test::randn({4, 8}, 36);
        return gradcheck("dropout", [&] {
            Generator gen(7);  // the same seed each call: every evaluation draws the same mask
            return dropout(a, Scalar(0.3), true, gen);
        }, {{"x", a}});
    });
    op("one attention head from the ops", [] {
        // wei = softmax(masked_fill(q @ kᵀ * hs^-0.5, causal, -inf)) ; out = wei @ v
        const std::size_t T = 5, hs = 3;
        Tensor q = test::randn({2, T, hs}, 37), k = test::randn({2, T, hs}, 38), v = test::randn({2, T, hs}, 39);
        auto head = [&] {
            Tensor wei = matmul(q, k.transpose(-2, -1)) * Scalar(1.0 / std::sqrt(double(hs)));
            wei = wei.masked_fill(causal_mask(T), -inf);
            wei = softmax(wei, -1);
            return matmul(wei, v);
        };
        return gradcheck("attention", head, {{"q", q}, {"k", k}, {"v", v}});
    });

    // --- the series' modules: every input and every parameter -----------------------
    static const GPTConfig small{7, 6, 8, 2, 2, 0.0};
    module("Head", [] {
        manual_seed(1);
        Head head(4, small);
        return check_module("Head", head, head.named_parameters(), 2, 10);
    });
    module("MultiHeadAttention", [] {
        manual_seed(2);
        MultiHeadAttention mha(2, 4, small);
        return check_module("MultiHeadAttention", mha, mha.named_parameters(), 3, 20);
    });
    module("FeedForward", [] {
        manual_seed(3);
        FeedForward ffwd(8, small);
        return check_module("FeedForward", ffwd, ffwd.named_parameters(), 4, 30);
    });
    module("Block", [] {
        manual_seed(4);
        Block block(8, 2, small);
        return check_module("Block", block, block.named_parameters(), 5, 40);
    });
    module("ResidualBlock (the blocks stage, no LayerNorm)", [] {
        manual_seed(6);
        ResidualBlock block(8, 2, small);
        return check_module("ResidualBlock", block, block.named_parameters(), 6, 45);
    });
    module("HeadGates (the gates of xgrad heads' importance)", [] {
        manual_seed(7);
        GPTLanguageModel model(small);
        model.eval();
        const Index idx = {{1, 3, 1, 6, 0, 2}, {4, 4, 5, 2, 1, 3}}, targets = {{3, 1, 6, 0, 2, 5}, {4, 5, 2, 1, 3, 3}};
        for (auto [name, p] : model.named_parameters()) p.data() = p.data() + test::randn(p.shape(), 60).data() * Scalar(0.3);
        HeadGates gates(small.n_layer * small.n_head);
        for (std::size_t k = 0; k < gates.gate.size(); ++k) gates.gate[k].data()(0) = Scalar(0.5 + 0.25 * double(k));
        std::vector<std::pair<std::string, Tensor>> wrt;
        for (std::size_t k = 0; k < gates.gate.size(); ++k) wrt.emplace_back("gate " + std::to_string(k), gates.gate[k]);
        return gradcheck("HeadGates", [&] {
            gates.restart();
            return model(idx, targets).loss;
        }, wrt);
    });
    module("GPT (the blog's, loss)", [] {
        manual_seed(8);
        GPT model(small);
        const Index idx = {{1, 3, 1, 6, 0, 2}, {4, 4, 5, 2, 1, 3}}, targets = {{3, 1, 6, 0, 2, 5}, {4, 5, 2, 1, 3, 3}};
        auto wrt = scaled_parameters(model.named_parameters(), 70);
        return gradcheck("GPT", [&] { return model(idx, targets).loss; }, wrt);
    });
    module("GPTLanguageModel (loss)", [] {
        manual_seed(5);
        GPTLanguageModel model(small);
        const Index idx = {{1, 3, 1, 6, 0, 2}, {4, 4, 5, 2, 1, 3}}, targets = {{3, 1, 6, 0, 2, 5}, {4, 5, 2, 1, 3, 3}};
        auto wrt = scaled_parameters(model.named_parameters(), 50);
        return gradcheck("GPTLanguageModel", [&] { return model(idx, targets).loss; }, wrt);
    });
    return all;
}

}  // namespace

Settings settings() {
    const GradcheckOptions options;
    return {options.eps, options.tolerance};
}

std::vector<std::string> names() {
    std::vector<std::string> out;
    for (const Check& c : checks()) out.push_back(c.name);
    return out;
}

std::vector<Row> run(const std::string& only) {
    auto lower = [](std::string s) {
        for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return s;
    };
    std::vector<Row> rows;
    for (const Check& c : checks()) {
        if (!only.empty() && lower(c.name).rfind(lower(only), 0) != 0) continue;  // "head" finds Head
        const GradcheckResult r = c.run();
        rows.push_back({c.name, c.group, r.shapes, r.max_rel_error, r.worst, r.passed});
    }
    return rows;
}

}  // namespace gradcheck_suite

// Gradient checks of the blog's modules, in double precision: every input and
// every parameter of Head, MultiHeadAttention, FeedForward, Block and a small
// GPT against finite differences.
#include "autograd/gradcheck.hpp"
#include "models/gpt.hpp"
#include "tests/check_helpers.hpp"

#include <doctest/doctest.h>

using namespace xgrad;

namespace {

const GPTConfig small{7, 6, 8, 2, 2, 0.0};

// Weights ~ normal(0, 0.3) instead of 0.02, so attention is far from uniform
// and every path carries a gradient worth checking.
std::vector<std::pair<std::string, Tensor>> scaled_parameters(const nn::NamedTensors& params, unsigned seed) {
    std::vector<std::pair<std::string, Tensor>> wrt;
    unsigned k = seed;
    for (auto [name, t] : params) {
        t.data() = t.data() + test::randn(t.shape(), ++k).data() * Scalar(0.3);
        wrt.emplace_back(name, t);
    }
    return wrt;
}

void require_pass(const GradcheckResult& r) {
    INFO(r.name << ": max relative error " << r.max_rel_error << " in " << r.worst);
    CHECK(r.passed);
}

}  // namespace

TEST_CASE("gradcheck: Head") {
    manual_seed(1);
    Head head(4, small);
    Tensor x = test::randn({2, 5, 8}, 2);
    auto wrt = scaled_parameters(head.named_parameters(), 10);
    wrt.emplace_back("x", x);
    require_pass(gradcheck("head", [&] { return head(x); }, wrt));
}

TEST_CASE("gradcheck: MultiHeadAttention") {
    manual_seed(2);
    MultiHeadAttention mha(2, 4, small);
    Tensor x = test::randn({2, 5, 8}, 3);
    auto wrt = scaled_parameters(mha.named_parameters(), 20);
    wrt.emplace_back("x", x);
    require_pass(gradcheck("mha", [&] { return mha(x); }, wrt));
}

TEST_CASE("gradcheck: FeedForward") {
    manual_seed(3);
    FeedForward ffwd(8, small);
    Tensor x = test::randn({2, 5, 8}, 4);
    auto wrt = scaled_parameters(ffwd.named_parameters(), 30);
    wrt.emplace_back("x", x);
    require_pass(gradcheck("ffwd", [&] { return ffwd(x); }, wrt));
}

TEST_CASE("gradcheck: Block") {
    manual_seed(4);
    Block block(8, 2, small);
    Tensor x = test::randn({2, 5, 8}, 5);
    auto wrt = scaled_parameters(block.named_parameters(), 40);
    wrt.emplace_back("x", x);
    require_pass(gradcheck("block", [&] { return block(x); }, wrt));
}

TEST_CASE("gradcheck: a small GPT's loss with respect to every parameter") {
    manual_seed(5);
    GPTLanguageModel model(small);
    const Index idx = {{1, 3, 1, 6, 0, 2}, {4, 4, 5, 2, 1, 3}}, targets = {{3, 1, 6, 0, 2, 5}, {4, 5, 2, 1, 3, 3}};
    auto wrt = scaled_parameters(model.named_parameters(), 50);
    require_pass(gradcheck("gpt", [&] { return model(idx, targets).loss; }, wrt));
}

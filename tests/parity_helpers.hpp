// What the PyTorch parity tests share (tests/test_parity.cpp for the
// lecture's model, tests/test_parity_blog.cpp for the blog's): the fixture
// reader, the worst-difference report, gradients seeded before a backward,
// strict loading, and the module and model comparisons.
#pragma once

#include "autograd/random.hpp"
#include "models/block.hpp"
#include "models/language_model.hpp"
#include "nn/adamw.hpp"
#include "tests/check_helpers.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/formats/safetensors.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace xgrad;
namespace st = xgrad::safetensors;

namespace {

std::string fixture_path(const std::string& name) { return std::string(XGRAD_FIXTURES) + "/" + name; }

// One fixture file, its tensors read as xgrad arrays.
struct Fixture {
    std::string name;
    st::File file;

    explicit Fixture(const std::string& file_name) : Fixture(file_name, st::load(fixture_path(file_name))) {}
    Fixture(std::string display_name, st::File contents) : name(std::move(display_name)), file(std::move(contents)) {}

    bool has(const std::string& key) const { return file.tensors.count(key) != 0; }
    const st::TensorData& raw(const std::string& key) const {
        const auto it = file.tensors.find(key);
        if (it == file.tensors.end()) throw std::runtime_error(name + ": no tensor '" + key + "'");
        return it->second;
    }
    Array floats(const std::string& key) const {
        const st::TensorData& t = raw(key);
        const std::vector<float> values = st::to_floats(t, name + ": " + key);
        Array a = Array::from_shape(Shape(t.shape.begin(), t.shape.end()));
        std::copy(values.begin(), values.end(), a.begin());
        return a;
    }
    Index ints(const std::string& key) const {
        const st::TensorData& t = raw(key);
        const std::vector<std::int64_t> values = st::to_int64s(t, name + ": " + key);
        Index a = Index::from_shape(Shape(t.shape.begin(), t.shape.end()));
        std::copy(values.begin(), values.end(), a.begin());
        return a;
    }
    // The names "<prefix><rest>" of the file, as the set of <rest>.
    std::set<std::string> keys_under(const std::string& prefix) const {
        std::set<std::string> out;
        for (const auto& entry : file.tensors) {
            if (entry.first.rfind(prefix, 0) == 0) out.insert(entry.first.substr(prefix.size()));
        }
        return out;
    }
};

// The largest relative difference seen in one group, and where.
struct Worst {
    std::string group;
    double rel = 0;
    std::string where;
    std::size_t compared = 0;

    explicit Worst(std::string g) : group(std::move(g)) {}

    // Checks the shape, then max |actual - expected| / max |expected| <= tolerance.
    void check(const std::string& name, const Array& actual, const Array& expected, double tolerance) {
        INFO(group << ": " << name);
        CHECK_MESSAGE(shape_str(actual.shape()) == shape_str(expected.shape()),
                      "shape " << shape_str(actual.shape()) << ", expected " << shape_str(expected.shape()));
        double r = 0;
        const std::string report = test::compare(name, actual, expected, tolerance, &r);
        INFO(report);
        CHECK(report.empty());
        ++compared;
        if (where.empty() || r > rel) rel = r, where = name;
    }

    void report() const {
        MESSAGE(group << ": " << compared << " tensors, largest relative difference " << rel << " (" << where << ")");
    }
};

Array reshaped(Array a, const Shape& shape) {
    a.reshape(shape);
    return a;
}

// Gradients accumulate, so a backward must add to what a grad already holds.
// Each compared gradient starts as numbers of its expected size instead of
// zeros, and what is compared with PyTorch is what the backward added: a
// backward that overwrites fails here, as in the gradient checks.
struct SeededGrads {
    std::map<const Node*, Array> seeds;

    void seed(Tensor t, const Array& expected) {
        double scale = 1e-3;
        for (const Scalar v : expected) scale = std::max(scale, std::abs(static_cast<double>(v)));
        Array g = Array::from_shape(t.shape());
        for (std::size_t i = 0; i < g.size(); ++i) g.data()[i] = static_cast<Scalar>(scale * std::sin(double(i) + 1));
        t.grad() = g;
        seeds[t.node()] = g;
    }
    Array added(Tensor t) const { return t.grad() - seeds.at(t.node()); }
};

// The keys of a module, as a set, for the strict key comparison.
std::set<std::string> key_set(const nn::NamedTensors& tensors) {
    std::set<std::string> out;
    for (const auto& entry : tensors) out.insert(entry.first);
    return out;
}

// Writes the fixture's "<prefix><key>" into each tensor (a handle: into the
// module), as load_state_dict(strict=True) does: same keys, same shapes.
void load_into(const nn::NamedTensors& tensors, const Fixture& f, const std::string& prefix) {
    for (auto [key, t] : tensors) {
        INFO(f.name << ": " << prefix << key);
        const Array a = f.floats(prefix + key);
        REQUIRE(shape_str(a.shape()) == shape_str(t.shape()));
        t.data() = a;
    }
}

// tril(ones(n, n)) == 0: true above the diagonal (the future), as the lecture's mask.
[[maybe_unused]] Mask causal(std::size_t n) { return equal_zero(tril_ones(n)); }

constexpr Scalar inf = std::numeric_limits<Scalar>::infinity();

const double op_tolerance = 1e-5;
const double module_tolerance = 1e-5;
const double model_tolerance = 1e-4;  // the whole model's gradients, AdamW steps

// Three AdamW steps from the fixture's init.* weights (PyTorch's defaults,
// lr 1e-2, eval mode), each loss and every parameter after each step
// against PyTorch's loss.<s> and step<s+1>.<key>.
inline void check_adamw_steps(LanguageModel& model, const Fixture& f, Worst& worst) {
    CHECK(f.keys_under("init.") == key_set(model.named_parameters()));
    load_into(model.named_parameters(), f, "init.");  // the tril buffers are the constructor's causal mask
    model.eval();
    nn::AdamWOptions options;
    options.lr = 1e-2;  // betas (0.9, 0.999), eps 1e-8, weight_decay 0.01: PyTorch's defaults
    nn::AdamW optimizer(model.named_parameters(), options);
    const Index idx = f.ints("idx"), targets = f.ints("targets");
    for (int s = 0; s < 3; ++s) {
        optimizer.zero_grad();
        auto [logits, loss] = model(idx, targets);
        worst.check("loss." + std::to_string(s), loss.data(), f.floats("loss." + std::to_string(s)), model_tolerance);
        loss.backward();
        optimizer.step();
        const std::string step = "step" + std::to_string(s + 1) + ".";
        CHECK(f.keys_under(step) == key_set(model.named_parameters()));
        for (auto [key, p] : model.named_parameters()) {
            worst.check(step + key, p.data(), f.floats(step + key), model_tolerance);
        }
    }
    worst.report();
}

}  // namespace

namespace {


// Runs one module on the fixture's x, checks out, dx and every parameter's gradient.
template <class Module>
void check_module(Module& m, const std::string& prefix, const nn::NamedTensors& buffers, const Fixture& f,
                  Worst& worst) {
    INFO("module " << prefix);
    m.train(false);  // m.eval(), as the fixture (dropout is 0 anyway)
    const nn::NamedTensors params = m.named_parameters();

    // strict: the file's parameters and buffers are exactly the module's
    std::set<std::string> keys = key_set(params), buffer_keys = key_set(buffers);
    keys.insert(buffer_keys.begin(), buffer_keys.end());
    CHECK(f.keys_under(prefix + ".param.") == keys);
    CHECK(f.keys_under(prefix + ".grad.") == key_set(params));
    load_into(params, f, prefix + ".param.");
    load_into(buffers, f, prefix + ".param.");

    Tensor x(f.floats(prefix + ".x"), true);
    SeededGrads seeded;
    seeded.seed(x, f.floats(prefix + ".dx"));
    for (auto [key, p] : params) seeded.seed(p, f.floats(prefix + ".grad." + key));
    Tensor out = m(x);
    worst.check(prefix + ".out", out.data(), f.floats(prefix + ".out"), module_tolerance);
    out.backward(f.floats(prefix + ".dout"));
    worst.check(prefix + ".dx", seeded.added(x), f.floats(prefix + ".dx"), module_tolerance);
    for (auto [key, p] : params) {
        worst.check(prefix + ".grad." + key, seeded.added(p), f.floats(prefix + ".grad." + key), module_tolerance);
    }
}


// One forward and backward pass in eval mode (dropout off, as the expected
// values), compared with PyTorch's logits, loss and every gradient.
inline void check_against(LanguageModel& model, const Index& x, const Index& y, const Fixture& expected, Worst& worst) {
    model.eval();
    SeededGrads seeded;
    for (auto [key, p] : model.named_parameters()) seeded.seed(p, expected.floats("grad." + key));
    auto [logits, loss] = model(x, y);
    const Array expected_logits = expected.floats("logits");
    worst.check("logits", reshaped(logits.data(), expected_logits.shape()), expected_logits, module_tolerance);
    worst.check("loss", loss.data(), expected.floats("loss"), module_tolerance);
    loss.backward();
    CHECK(expected.keys_under("grad.") == key_set(model.named_parameters()));
    for (auto [key, p] : model.named_parameters()) {
        worst.check("grad." + key, seeded.added(p), expected.floats("grad." + key), model_tolerance);
    }
    worst.report();
}

}  // namespace

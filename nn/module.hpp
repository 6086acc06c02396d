// Module conventions. A module is a plain struct whose members carry the
// PyTorch attribute names (key, query, value, proj, net, sa, ffwd, ...), called
// like a function. It lists its children once, in PyTorch's registration
// order, each with its name in the state dict:
//
//     struct Head : nn::Module {
//         ...
//         void children(nn::Visitor& visit) const override {
//             visit("key", key);
//             visit("query", query);
//             visit("value", value);
//             visit("tril", nn::buffer(tril));
//             visit("dropout", dropout);
//         }
//     };
//
// and nn::Module derives named_parameters(), named_buffers() and
// train(mode) from that list, with PyTorch's keys
// ("blocks.0.sa.heads.0.key.weight"). A child is a parameter (a Tensor; an
// empty one, a Linear's missing bias, is skipped as PyTorch skips None), a
// buffer (nn::buffer), another module, a std::vector of modules (nn.ModuleList,
// named 0, 1, ...) or a std::variant of modules (nn.Sequential's layers).
// Listed on demand rather than registered by pointer, so a module can be
// moved into a std::vector freely.
#pragma once

#include "autograd/ops.hpp"

#include <omp.h>

#include <functional>
#include <random>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace xgrad::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// A tensor that is state but not a parameter (PyTorch's register_buffer).
struct Buffer {
    const Tensor& tensor;
};
inline Buffer buffer(const Tensor& t) { return Buffer{t}; }

class Visitor;

struct Module {
    bool training = true;  // PyTorch's module.training: set by train() / eval() on every module below

    virtual ~Module() = default;
    // Hands each child to `visit`, in registration order, with its name.
    virtual void children(Visitor& visit) const = 0;

    NamedTensors named_parameters() const;
    NamedTensors named_buffers() const;
    void train(bool mode = true);
    void eval() { train(false); }
};

// Walks a module's children and everything below them, keeping the dotted
// key of each: what named_parameters(), named_buffers() and train() share.
class Visitor {
public:
    using OnTensor = std::function<void(const std::string& key, const Tensor& t, bool is_buffer)>;
    using OnModule = std::function<void(const Module& m)>;
    Visitor(OnTensor on_tensor, OnModule on_module) : on_tensor_(std::move(on_tensor)), on_module_(std::move(on_module)) {}

    void operator()(const std::string& name, const Tensor& t) {
        if (t.defined()) on_tensor_(key(name), t, false);
    }
    void operator()(const std::string& name, Buffer b) { on_tensor_(key(name), b.tensor, true); }
    void operator()(const std::string& name, const Module& m) {
        const std::string outer = prefix_;
        prefix_ = key(name);
        walk(m);
        prefix_ = outer;
    }
    template <class M>
    void operator()(const std::string& name, const std::vector<M>& list) {
        for (std::size_t i = 0; i < list.size(); ++i) (*this)(name + "." + std::to_string(i), list[i]);
    }
    template <class... M>
    void operator()(const std::string& name, const std::variant<M...>& one_of) {
        std::visit([&](const auto& m) { (*this)(name, m); }, one_of);
    }

    void walk(const Module& m) {
        on_module_(m);
        m.children(*this);
    }

private:
    std::string key(const std::string& name) const { return prefix_.empty() ? name : prefix_ + "." + name; }

    OnTensor on_tensor_;
    OnModule on_module_;
    std::string prefix_;
};

inline NamedTensors Module::named_parameters() const {
    NamedTensors out;
    Visitor visit([&](const std::string& key, const Tensor& t, bool is_buffer) { if (!is_buffer) out.emplace_back(key, t); },
                  [](const Module&) {});
    visit.walk(*this);
    return out;
}

inline NamedTensors Module::named_buffers() const {
    NamedTensors out;
    Visitor visit([&](const std::string& key, const Tensor& t, bool is_buffer) { if (is_buffer) out.emplace_back(key, t); },
                  [](const Module&) {});
    visit.walk(*this);
    return out;
}

// Calls fn on m and every module below it, as PyTorch's module.apply(fn).
template <class Fn>
void apply(Module& m, Fn fn) {
    // The walk hands out const modules; m, and so all below it, is not const,
    // so changing them through the walk is allowed.
    Visitor visit([](const std::string&, const Tensor&, bool) {}, [&](const Module& child) { fn(const_cast<Module&>(child)); });
    visit.walk(m);
}

inline void Module::train(bool mode) {
    apply(*this, [mode](Module& m) { m.training = mode; });
}

// Appends `inner`'s entries to `out` under "prefix." (PyTorch's nesting of keys).
inline void append(NamedTensors& out, const std::string& prefix, const NamedTensors& inner) {
    for (const auto& [name, t] : inner) out.emplace_back(prefix + "." + name, t);
}

// While a ShapesOnly guard is alive, parameters and buffers are made hollow
// (Tensor::hollow: their shapes, no values), so a model of any size can be
// built to read its state dict's names and shapes before a checkpoint's
// tensors are trusted (train/formats/checkpoint.cpp).
class ShapesOnly {
public:
    ShapesOnly() : previous_(active()) { active() = true; }
    ~ShapesOnly() { active() = previous_; }
    ShapesOnly(const ShapesOnly&) = delete;
    ShapesOnly& operator=(const ShapesOnly&) = delete;
    static bool on() { return active(); }

private:
    static bool& active() {
        thread_local bool shapes_only = false;
        return shapes_only;
    }
    bool previous_;
};

inline std::size_t count_parameters(const NamedTensors& params) {
    std::size_t n = 0;
    for (const auto& entry : params) n += entry.second.numel();
    return n;
}

inline void zero_grad(const NamedTensors& params) {
    for (auto entry : params) entry.second.zero_grad();
}

// The parameters cut into `parts` runs of consecutive tensors, each about a
// part's share of the elements: run t is params[first[t]] up to params[first[t + 1]].
// The micro-batches' gradient sum and AdamW's step share the same cut, so
// the thread that summed a gradient updates its weights from its own cache.
inline std::vector<std::size_t> split_by_size(const NamedTensors& params, int parts) {
    std::size_t total = 0;
    for (const auto& entry : params) total += entry.second.numel();
    std::vector<std::size_t> first(static_cast<std::size_t>(parts) + 1, params.size());
    first[0] = 0;
    std::size_t i = 0, seen = 0;
    for (int t = 1; t < parts; ++t) {
        const std::size_t share = total * static_cast<std::size_t>(t) / static_cast<std::size_t>(parts);
        while (i < params.size() && seen + params[i].second.numel() / 2 < share) seen += params[i++].second.numel();
        first[static_cast<std::size_t>(t)] = i;
    }
    return first;
}

// Inside a parallel region: f(i) for every parameter index i of the runs of
// `first` (split_by_size) that belong to the calling thread, run t to thread t
// (and t + team size, ..., should the team be smaller than the cut).
template <class F>
void for_this_threads_runs(const std::vector<std::size_t>& first, F&& f) {
    const int parts = static_cast<int>(first.size()) - 1;
    for (int part = omp_get_thread_num(); part < parts; part += omp_get_num_threads()) {
        for (std::size_t i = first[static_cast<std::size_t>(part)]; i < first[static_cast<std::size_t>(part) + 1]; ++i) f(i);
    }
}

// normal(0, std), as torch.nn.init.normal_ (a parameter: requires grad).
inline Tensor normal_parameter(const Shape& shape, double std, Generator& gen) {
    if (ShapesOnly::on()) return Tensor::hollow(shape, true);
    std::normal_distribution<double> normal(0.0, std);
    Array a = Array::from_shape(shape);
    for (Scalar& x : a) x = static_cast<Scalar>(normal(gen));
    return Tensor(std::move(a), true);
}

inline Tensor constant_parameter(const Shape& shape, double value) {
    if (ShapesOnly::on()) return Tensor::hollow(shape, true);
    Array a = Array::from_shape(shape);
    a.fill(static_cast<Scalar>(value));
    return Tensor(std::move(a), true);
}

}  // namespace xgrad::nn

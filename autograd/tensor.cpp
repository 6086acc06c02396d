// The backward pass: a topological sort and a reverse walk, as in micrograd,
// but without recursion so a deep graph cannot overflow the stack.
#include "autograd/tensor.hpp"

#include "autograd/error.hpp"
#include "autograd/profiler.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

namespace xgrad {

namespace {
thread_local bool grad_mode = true;
}

bool grad_enabled() { return grad_mode; }
NoGradGuard::NoGradGuard() : previous_(grad_mode) { grad_mode = false; }
NoGradGuard::~NoGradGuard() { grad_mode = previous_; }

std::string shape_str(const Shape& shape) { return dims_text(shape); }

Node::~Node() {
    // Destroying the last handle to a long chain would destroy parent inside
    // parent inside parent... and overflow the stack. Instead, unlink each node
    // we hold the last reference to before it dies, using an explicit stack.
    std::vector<std::shared_ptr<Node>> pending = std::move(parents);
    backward_fn = nullptr;  // its captured inputs are also in `pending`
    while (!pending.empty()) {
        std::shared_ptr<Node> n = std::move(pending.back());
        pending.pop_back();
        if (n && n.use_count() == 1) {
            for (auto& p : n->parents) pending.push_back(std::move(p));
            n->parents.clear();
            n->backward_fn = nullptr;
        }
    }  // each `n` dies here with no parents left to recurse into
}

namespace {
thread_local LeafGradients* active_sink = nullptr;
}

LeafGradients* LeafGradients::active() { return active_sink; }
LeafGradients::Scope::Scope(LeafGradients& sink) : previous(active_sink) { active_sink = &sink; }
LeafGradients::Scope::~Scope() { active_sink = previous; }

Array* LeafGradients::find(const Tensor& t) {
    for (auto& [node, grad] : grads_) {
        if (node == t.node()) return &grad;
    }
    return nullptr;
}

Array& LeafGradients::buffer_for(const Node& leaf) {
    for (auto& [node, grad] : grads_) {
        if (node == &leaf) return grad;
    }
    Array grad = Array::from_shape(leaf.shape());
    std::fill_n(grad.data(), grad.size(), Scalar(0));
    return grads_.emplace_back(&leaf, std::move(grad)).second;
}

Array& Node::grad_buffer() {
    // A leaf (no op made it) under an open sink: the sink's buffer (tensor.hpp).
    if (active_sink != nullptr && is_leaf()) return active_sink->buffer_for(*this);
    if (!has_grad) {
        // from_shape and a fill, not xt::zeros: xtensor's assignment of the
        // zeros expression took 6.5% of a one-thread tiny step (perf)
        grad = Array::from_shape(shape());
        std::fill_n(grad.data(), grad.size(), Scalar(0));
        has_grad = true;
    }
    return grad;
}

Array& Node::grad_buffer_to_write(bool& add) {
    add = has_grad || (active_sink != nullptr && is_leaf());
    if (add) return grad_buffer();
    grad = Array::from_shape(shape());
    has_grad = true;
    return grad;
}

namespace {
// The node whose backward_fn is running, while it runs: its grad is dropped
// right after, so take_grad_of may hand the buffer on instead.
thread_local Node* grad_offered = nullptr;

struct GradOffer {
    explicit GradOffer(Node& n) { grad_offered = &n; }
    ~GradOffer() { grad_offered = nullptr; }  // also when backward_fn throws
};
}  // namespace

Scalar* Node::take_grad_of(const Node& out) {
    if (&out != grad_offered || has_grad || (active_sink != nullptr && is_leaf()) || out.grad.shape() != shape()) {
        return nullptr;
    }
    grad = std::move(grad_offered->grad);
    grad_offered = nullptr;  // one taker
    has_grad = true;
    return grad.data();
}

Tensor::Tensor(Array data, bool requires_grad) : node_(std::make_shared<Node>()) {
    node_->data = std::move(data);
    node_->requires_grad = requires_grad;
    node_->handles = 1;
}

Tensor Tensor::none(const char* why) {
    Tensor t;
    t.why_empty_ = why;
    return t;
}

Tensor Tensor::hollow(const Shape& shape, bool requires_grad) {
    Tensor t(Array::from_shape({0}), requires_grad);
    t.node_->released_shape = shape;
    t.node_->data_released = true;
    return t;
}

std::size_t Tensor::numel() const {
    const Node& n = checked("numel");
    if (!n.data_released) return n.data.size();
    std::size_t count = 1;
    for (const std::size_t d : n.released_shape) count *= d;
    return count;
}

void Tensor::throw_empty(const char* call) const {
    throw Error(std::string(call) + ": the tensor is empty (" +
                (why_empty_ ? why_empty_ : "a default-constructed Tensor holds no values; assign it an op's result first") +
                ")");
}

Tensor& Tensor::operator=(const Tensor& other) {
    if (this != &other) {
        Tensor copy(other);
        *this = std::move(copy);
    }
    return *this;
}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
    if (this != &other) {
        release();
        node_ = std::move(other.node_);
        why_empty_ = other.why_empty_;
    }
    return *this;
}

void Tensor::release() {
    if (!node_) return;
    Node& n = *node_;
    // The last handle to an intermediate went: only the graph links to it now.
    // If its backward does not read its values, nothing ever will again.
    if (!n.backward_reads_output && --n.handles == 0 && n.backward_fn && !n.data_released) {
        n.released_shape = n.data.shape();
        n.data = Array::from_shape({0});  // no elements (a default Array would hold one)
        n.data_released = true;
    }
    node_.reset();
}

Tensor Tensor::from_op(Array data, const char* op, std::vector<Tensor> inputs, BackwardFn backward,
                       bool backward_reads_output) {
    Tensor out(std::move(data));
    out.node_->op = op;
    if (profiler::enabled()) profiler::record_forward(op);
    if (!grad_mode) return out;
    bool needs_grad = false;
    for (const Tensor& t : inputs) needs_grad = needs_grad || (t.defined() && t.requires_grad());
    if (!needs_grad) return out;
    out.node_->requires_grad = true;
    for (const Tensor& t : inputs) {
        if (t.defined()) out.node_->parents.push_back(t.node_);
    }
    out.node_->backward_fn = std::move(backward);
    out.node_->backward_reads_output = backward_reads_output;
    return out;
}

std::size_t Tensor::size(int d) const {
    checked("size");
    const int n = static_cast<int>(dim());
    const int k = d < 0 ? d + n : d;
    if (k < 0 || k >= n) {
        throw Error("size: dim " + std::to_string(d) + " out of range for a tensor of shape " + shape_str(shape()));
    }
    return shape()[static_cast<std::size_t>(k)];
}

Scalar Tensor::item() const {
    checked("item");
    if (numel() != 1) {
        throw Error("item: needs a tensor with one element, got shape " + shape_str(shape()));
    }
    return *node_->data.data();
}

Tensor& Tensor::requires_grad_(bool on) {
    checked("requires_grad_").requires_grad = on;
    return *this;
}

Array& Tensor::grad() { return checked("grad").grad_buffer(); }

void Tensor::zero_grad() {
    Node& n = checked("zero_grad");
    n.grad = Array();
    n.has_grad = false;
}

Tensor Tensor::detach() const { return Tensor(checked("detach").data); }

void Tensor::backward(bool retain_graph) {
    checked("backward");
    if (numel() != 1) {
        throw Error("backward: needs a tensor with one element (a loss), got shape " + shape_str(shape()) +
                    "; reduce it first, for example with sum() or mean()");
    }
    backward(xt::ones<Scalar>(shape()), retain_graph);
}

namespace {
[[noreturn]] void throw_released(const Node& n) {
    throw Error(std::string("backward: the graph through '") + n.op + "' (shape " + shape_str(n.shape()) +
                ") was already released by an earlier backward(); run the forward again, or pass "
                "retain_graph = true to the first backward");
}
}  // namespace

void Tensor::backward(const Array& grad_output, bool retain_graph) {
    checked("backward");
    if (node_->graph_released) throw_released(*node_);
    if (!requires_grad()) {
        throw Error("backward: the tensor does not require grad (no input had requires_grad, or it was made "
                    "under NoGradGuard)");
    }
    if (grad_output.shape() != shape()) {
        throw Error("backward: grad_output has shape " + shape_str(grad_output.shape()) + " but the tensor has shape " +
                    shape_str(shape()));
    }

    // Topological order (inputs before outputs) by an iterative depth-first
    // search: a node is appended once all of its parents have been. Leaves
    // (parameters, inputs) have no backward to run and stay out of it. A node
    // is marked with this walk's number when first reached: no set of
    // visited nodes to allocate, one entry at a time, on every step.
    static std::atomic<std::uint64_t> walks{0};
    const std::uint64_t walk = ++walks;
    std::vector<std::shared_ptr<Node>> order;
    std::vector<std::pair<std::shared_ptr<Node>, std::size_t>> stack;  // (node, next parent to visit)
    node_->walk = walk;
    stack.emplace_back(node_, 0);
    while (!stack.empty()) {
        auto& [n, next] = stack.back();
        if (next < n->parents.size()) {
            const std::shared_ptr<Node>& p = n->parents[next++];
            if (p->graph_released) throw_released(*p);  // before any gradient is touched
            if (p->requires_grad && p->backward_fn && p->walk != walk) {
                p->walk = walk;
                stack.emplace_back(p, 0);  // (`n` may dangle after this; it is not used again)
            }
        } else {
            order.push_back(std::move(n));  // all its parents are in `order` already
            stack.pop_back();
        }
    }

    // The reverse walk: outputs before inputs, so each node's grad is complete
    // when its backward_fn runs.
    Array& g = node_->grad_buffer();
    g += grad_output;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        Node& n = **it;
        if (n.backward_fn && n.has_grad) {
            const GradOffer offer(n);  // its grad is dropped below: an input may take the buffer (take_grad_of)
            if (profiler::enabled()) {
                const auto start = std::chrono::steady_clock::now();
                n.backward_fn(n);
                profiler::record_backward(n.op, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            } else {
                n.backward_fn(n);
            }
        }
        if (n.backward_fn) {
            // An intermediate is done: its grad is no longer needed (PyTorch
            // keeps only leaves' grads), and dropping its closure and parent
            // links releases the values the closure saved, so memory falls as
            // the walk goes on. With retain_graph the graph stays for another
            // backward.
            n.grad = Array();
            n.has_grad = false;
            if (!retain_graph) {
                n.backward_fn = nullptr;
                n.parents.clear();
                n.graph_released = true;
            }
        }
        it->reset();  // the node itself dies here unless a handle still holds it
    }
}

}  // namespace xgrad

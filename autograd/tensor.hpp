// Tensor: a cheap handle (a shared pointer) to one node of the autograd graph.
//
// A node holds the op's output `data`, its `grad`, the tensors it was computed
// from (`parents`) and a `backward_fn` that turns the node's grad into
// contributions to its parents' grads. Copying a Tensor copies the handle, not
// the data, so a module, the optimizer and an op's closure can all hold the same
// parameter.
//
//     Tensor x(Array{{1, 2}, {3, 4}}, /*requires_grad=*/true);
//     Tensor loss = sum(x * x);   // records two nodes: mul, sum
//     loss.backward();            // x.grad() == 2 * x
#pragma once

#include "autograd/buffer_cache.hpp"
#include "autograd/shape_text.hpp"

#include <xtensor/xarray.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace xgrad {

// The gradient checks compile these same sources a second time with
// XGRAD_DOUBLE defined (and the namespace renamed to xgrad64), so that finite
// differences are precise enough to catch a 1e-4 relative error.
#ifdef XGRAD_DOUBLE
using Scalar = double;
#else
using Scalar = float;
#endif

// Every Array's buffer comes from its thread's cache of freed buffers
// (buffer_cache.hpp): a step frees and allocates the same sizes again.
using Array = xt::xarray<Scalar, XTENSOR_DEFAULT_LAYOUT, CachedAllocator<Scalar>>;
using Index = xt::xarray<std::int64_t>;  // token ids, targets
using Mask = xt::xarray<bool>;           // true where masked_fill writes
using Shape = Array::shape_type;

struct Node;
using BackwardFn = std::function<void(const Node& out)>;

struct Node {
    Array data;
    Array grad;              // meaningful only when has_grad
    bool has_grad = false;   // allocated on first use: as zeros, or unfilled for a backward that writes it all
    bool requires_grad = false;
    const char* op = "leaf"; // the op's name as the engine calls it: "matmul", "softmax", ...
    std::vector<std::shared_ptr<Node>> parents;
    BackwardFn backward_fn;  // reads out.grad, adds into the parents' grads (or writes the first contribution, maybe over out.grad: take_grad_of)

    // Saving memory as PyTorch's saved tensors do: an intermediate's values are
    // freed as soon as nothing can read them any more, that is when no Tensor
    // handle is left (the user's variables and the backward closures that read
    // values hold handles; the graph's parent links do not) and its own
    // backward does not read its output (softmax's does, matmul's does not).
    // Only such nodes count their handles (backward_reads_output false, set
    // once by from_op while its one handle is the new output): leaves and the
    // rest are never freed early, so nothing is counted for them. That keeps
    // a plain counter right when several threads run forwards through the
    // same parameters (LeafGradients below): an op's output, the only kind
    // that is counted, lives in the one thread's graph that made it.
    int handles = 0;                    // Tensor handles to this node, when counted
    bool backward_reads_output = true;  // set by the op in from_op
    bool data_released = false;        // data was freed; `released_shape` keeps its shape
    // An earlier backward() walked through this intermediate and dropped its
    // closure and parent links: a later backward cannot pass it (see backward).
    bool graph_released = false;
    std::uint64_t walk = 0;  // the last backward() walk that reached it (an intermediate: one thread's)
    Shape released_shape;
    const Shape& shape() const { return data_released ? released_shape : data.shape(); }

    Node() = default;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;
    ~Node();  // frees a long chain of parents without recursion

    Array& grad_buffer();  // this node's grad, allocated as zeros on first call
    // For a backward that writes every element of this node's grad: on the
    // first contribution the buffer is allocated but not filled and `add` is
    // set false (write, do not add: the same values as adding into zeros,
    // without the pass that writes the zeros and the one that reads them
    // back); afterwards, or for a leaf under a LeafGradients sink, it is
    // grad_buffer() and `add` is true.
    Array& grad_buffer_to_write(bool& add);
    // For a backward that computes this node's gradient from out.grad (the
    // same shape) where each dx_i needs only dy values read before dx_i's
    // slot is written (relu: dy_i; softmax: dy_i and its row's dot, computed
    // first): on this node's first contribution, out.grad's own buffer
    // becomes this node's grad, to be overwritten in place, when backward()
    // offers it (it does for the node whose backward_fn runs: an
    // intermediate's grad is dropped right after). No fresh buffer to find
    // and write. Returns that buffer, or null: then use grad_buffer_to_write.
    // Read out.grad's pointer and size before: after a take, out.grad's
    // storage is gone (a null pointer, though its shape remains).
    Scalar* take_grad_of(const Node& out);
    // No op made it (or its graph was never recorded): a parameter, an input.
    bool is_leaf() const { return !backward_fn && parents.empty() && !graph_released; }
};

class Tensor {
public:
    Tensor() = default;  // an empty handle (for example, a Linear without bias)
    explicit Tensor(Array data, bool requires_grad = false);
    // An empty handle that says why it is empty, as PyTorch's None would in
    // context: using it throws an Error with `why` ("the model was called
    // without targets, so it computed no loss").
    static Tensor none(const char* why);
    // A tensor with a shape and no values (nothing allocated): what a model
    // is built of under nn::ShapesOnly, to know its state dict's shapes
    // before anything is allocated. data() is empty; shape() and numel() hold.
    static Tensor hollow(const Shape& shape, bool requires_grad = false);
    // Copies and moves keep the node's count of handles (see Node::handles).
    Tensor(const Tensor& other) : node_(other.node_), why_empty_(other.why_empty_) { retain(); }
    Tensor(Tensor&& other) noexcept : node_(std::move(other.node_)), why_empty_(other.why_empty_) {}
    Tensor& operator=(const Tensor& other);
    Tensor& operator=(Tensor&& other) noexcept;
    ~Tensor() { release(); }

    // Every accessor below throws an Error naming itself on an empty handle.
    bool defined() const { return node_ != nullptr; }
    const Array& data() const { return checked("data").data; }
    Array& data() { return checked("data").data; }
    const Shape& shape() const { return checked("shape").shape(); }
    std::size_t dim() const { return shape().size(); }
    std::size_t size(int d) const;  // PyTorch's x.size(-1): negative dims count from the end
    std::size_t numel() const;
    Scalar item() const;            // the value of a one-element tensor

    bool requires_grad() const { return checked("requires_grad").requires_grad; }
    Tensor& requires_grad_(bool on = true);
    bool has_grad() const { return checked("has_grad").has_grad; }
    Array& grad();                  // allocated as zeros if no backward has reached it yet
    const char* op() const { return checked("op").op; }
    Node* node() const { return node_.get(); }

    // Backpropagates from this one-element tensor (d self / d self = 1), then
    // releases the graph so intermediate activations are freed. A second
    // backward through the released part throws, as PyTorch does, unless the
    // first kept it with retain_graph = true.
    void backward(bool retain_graph = false);
    // The same from a tensor of any shape, given d loss / d self.
    void backward(const Array& grad_output, bool retain_graph = false);
    void zero_grad();               // drops the gradient (PyTorch's set_to_none)
    Tensor detach() const;          // same values, new leaf, no history

    // Throws "NAME: the tensor is empty (...)" unless the handle is defined.
    // Ops call it on their inputs with the op's name.
    const Tensor& expect_defined(const char* name) const {
        checked(name);
        return *this;
    }

    // PyTorch-style methods, forwarding to the free functions in ops.hpp.
    Tensor transpose(int dim0, int dim1) const;
    Tensor view(std::vector<std::ptrdiff_t> shape) const;
    Tensor masked_fill(const Mask& mask, Scalar value) const;

    // Builds an op's output node. Its backward is recorded only when grad mode
    // is on and some input requires grad; otherwise the output is a plain leaf.
    // An op whose backward never reads `out.data` says so with
    // backward_reads_output = false: the output's values are then freed once
    // the last handle to it goes.
    static Tensor from_op(Array data, const char* op, std::vector<Tensor> inputs, BackwardFn backward,
                          bool backward_reads_output = true);

private:
    void retain() {
        if (node_ && !node_->backward_reads_output) ++node_->handles;
    }
    void release();  // drops this handle; may free the node's data (see Node::handles)
    Node& checked(const char* call) const {
        if (!node_) throw_empty(call);
        return *node_;
    }
    [[noreturn]] void throw_empty(const char* call) const;

    std::shared_ptr<Node> node_;
    const char* why_empty_ = nullptr;  // see none()
};

// Where the backward passes of one thread put the gradients of leaves (the
// parameters). While a LeafGradients::Scope is open on a thread, every backward
// pass on that thread adds a leaf's gradient into the sink's own buffer for
// that leaf instead of into the leaf's grad; other threads are unaffected. So
// two threads can each run a forward and a backward through the same
// parameters at once, on their own rows of a batch, and the caller then adds
// the sinks in a fixed order (train/distributed/side_by_side.cpp). Nothing
// else about a leaf changes, and intermediates keep their own grads.
class LeafGradients {
public:
    // The gradient added into this sink for t, or nullptr when no backward
    // pass under its scope reached t.
    Array* find(const Tensor& t);
    Array& buffer_for(const Node& leaf);  // zeros on first use, as Node::grad_buffer

    struct Scope {
        explicit Scope(LeafGradients& sink);
        ~Scope();
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;
        LeafGradients* previous;
    };
    static LeafGradients* active();  // this thread's open sink, or nullptr

private:
    std::vector<std::pair<const Node*, Array>> grads_;  // a handful of parameters: a list is quickest
};

// Is the graph being recorded? NoGradGuard turns it off for evaluation and generation.
bool grad_enabled();

class NoGradGuard {
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

// "(2,3,4)": shapes in error messages (autograd/shape_text.hpp has the one
// for a file's shapes, printed the same way).
std::string shape_str(const Shape& shape);

}  // namespace xgrad

// `xgrad graph`: the autograd graph of one forward pass and loss, as Graphviz
// DOT, one node per op the engine recorded (its name and shape), parameters
// by their state-dict names. Plain text written by hand, saved atomically.
#include "train/pictures/graph.hpp"

#include "autograd/error.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/formats/safetensors.hpp"
#include "train/pictures/markup.hpp"

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace xgrad {

using namespace pictures;

namespace {

// A DOT string literal: quotes and backslashes escaped, other control
// characters shown as '?', and a newline turned into DOT's line break "\\n".
std::string dot_quote(const std::string& s) {
    std::string out = "\"";
    std::size_t start = 0;
    while (true) {
        const std::size_t end = s.find('\n', start);
        for (char c : printable(s.substr(start, end == std::string::npos ? std::string::npos : end - start))) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        if (end == std::string::npos) break;
        out += "\\n";
        start = end + 1;
    }
    return out + "\"";
}

}  // namespace

void graph_dot(const std::string& checkpoint, const std::string& out_path) {
    LoadedCheckpoint ck = load_checkpoint(checkpoint);
    LanguageModel& model = *ck.model;
    model.eval();  // no dropout nodes
    const GPTConfig& config = model.config;

    // A small batch: B=1, T=min(block_size, 8), tokens 0..T-1 (mod vocab), targets shifted by one.
    const std::size_t T = std::min<std::size_t>(config.block_size, 8);
    Index x = Index::from_shape({1, T}), y = Index::from_shape({1, T});
    for (std::size_t t = 0; t < T; ++t) {
        x(0, t) = static_cast<std::int64_t>(t % config.vocab_size);
        y(0, t) = static_cast<std::int64_t>((t + 1) % config.vocab_size);
    }
    if (!grad_enabled()) throw Error("graph: grad mode is off, so no graph would be recorded");
    Tensor loss = model(x, y).loss;  // the graph stays alive: no backward()

    std::unordered_map<const Node*, std::string> param_name;
    for (const auto& [name, p] : model.named_parameters()) param_name[p.node()] = name;

    // Every node reachable from the loss by its parents, parents before children
    // (an iterative depth-first walk: the graph is deep).
    std::vector<const Node*> order;
    std::unordered_map<const Node*, std::size_t> id;
    std::unordered_set<const Node*> seen{loss.node()};
    std::vector<std::pair<const Node*, std::size_t>> stack{{loss.node(), 0}};
    while (!stack.empty()) {
        const Node* n = stack.back().first;
        const std::size_t next = stack.back().second;
        if (next < n->parents.size()) {
            ++stack.back().second;
            const Node* p = n->parents[next].get();
            if (seen.insert(p).second) stack.emplace_back(p, 0);
        } else {
            id[n] = order.size();
            order.push_back(n);
            stack.pop_back();
        }
    }

    std::size_t params = 0;
    for (const Node* n : order) params += param_name.count(n);
    std::ostringstream s;
    s << "// The autograd graph of one forward pass and loss, written by `xgrad graph`.\n"
      << "// Render it with: dot -Tsvg " << printable(basename_of(out_path)) << " -o graph.svg\n";
    s << "digraph autograd {\n";
    s << "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=14, labelloc=t, label="
      << dot_quote("autograd graph of " + basename_of(checkpoint) + " ('" + ck.model_type + "'): forward and loss on B=1, T=" +
                   std::to_string(T) + "; " + std::to_string(order.size()) + " nodes, " + std::to_string(params) +
                   " of them parameters")
      << "];\n";
    s << "  node [fontname=\"Helvetica\", fontsize=10, style=filled, fillcolor=\"#eef3fb\", color=\"#7a8ca8\"];\n";
    s << "  edge [color=\"#888888\", arrowsize=0.6];\n";
    for (const Node* n : order) {
        const std::string shape = shape_str(n->shape());
        s << "  \"n" << id[n] << "\" [";
        if (const auto it = param_name.find(n); it != param_name.end()) {
            s << "label=" << dot_quote(it->second + "\n" + shape) << ", shape=box, fillcolor=\"#e3f2d9\", "
              << "color=\"#6a9a4e\", tooltip=" << dot_quote(std::string("parameter (") + n->op + ")");
        } else {
            s << "label=" << dot_quote(std::string(n->op) + "\n" + shape) << ", tooltip=" << dot_quote(n->op);
            if (n->parents.empty()) s << ", shape=box, style=\"filled,dashed\"";  // a leaf that is not a parameter
            if (n == loss.node()) s << ", fillcolor=\"#fbe0e0\", color=\"#b04a4a\", peripheries=2";
        }
        s << "];\n";
    }
    for (const Node* n : order) {
        for (const auto& p : n->parents) s << "  \"n" << id[p.get()] << "\" -> \"n" << id[n] << "\";\n";
    }
    s << "}\n";
    safetensors::write_file_atomic(out_path, s.str());
}

}  // namespace xgrad

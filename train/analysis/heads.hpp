// `xgrad heads`: what each attention head of a trained model does, in
// numbers. The model reads N windows of block_size characters from a text
// (each with the next character as its target) in eval mode; per head the
// scores of head_scores.hpp averaged over the windows, how much the loss
// rises without the head (ablation), Michel et al.'s importance, an
// induction score, a role read off the scores, and how alike the heads are.
// Called by the command line (train/cli/) and, for its JSON, by the browser
// explorer; tested in tests/test_heads.cpp.
#pragma once

#include "models/language_model.hpp"
#include "train/text/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace xgrad::analysis {

struct HeadScores {
    std::size_t layer = 0, head = 0;
    std::string name;  // its state-dict prefix: blocks.0.sa.heads.1
    double previous_token = 0, first_token = 0, self = 0, mean_distance = 0, entropy = 0, word_start = 0;
    double ablation = 0;    // loss with the head's output zeroed, minus the loss with every head on
    double importance = 0;  // mean over windows of |d loss / d gate|, the gate multiplying the head's output
    double induction = 0;
    std::string role;
};

struct HeadsOptions {
    std::size_t windows = 8;
    std::uint64_t seed = 1337;  // the induction test's random sequence
    std::vector<std::pair<std::size_t, std::size_t>> ablate;  // (layer, head): also the loss with these off together
};

struct HeadsReport {
    std::size_t windows = 0, block_size = 0;
    double base_loss = 0;
    std::vector<HeadScores> heads;
    std::vector<std::vector<double>> similarity;  // mean Jensen-Shannon divergence (bits) between heads' rows
    HeadScores uniform;                           // every score under uniform causal attention
    double induction_loss_first = 0, induction_loss_second = 0;  // the repeated sequence's two halves
    std::optional<double> ablated_loss;           // with options.ablate off together
    std::vector<std::vector<Array>> attention;    // [head][window]: (T,T)
};

// The model's heads in the order they run, with their layers and names;
// empty for a model without attention (the bigram).
std::vector<HeadScores> list_heads(const LanguageModel& model);

// Each head's attention weights (B, T, T) on idx (B, T), in the order the
// heads run, from the model's own forward (AttentionCapture); an Error
// unless there are `expected` of them. With `logits`, also the forward's logits.
std::vector<Tensor> capture_attention(const LanguageModel& model, const Index& idx, std::size_t expected,
                                      Array* logits = nullptr);

// "1.2" -> (1, 2); names the heads that exist when it is not one of them.
std::pair<std::size_t, std::size_t> parse_head(const std::string& text, const std::vector<HeadScores>& heads);

// The analysis of `text` (already checked against the vocabulary) under `model`.
HeadsReport analyse_heads(LanguageModel& model, const Tokenizer& tokenizer, const std::u32string& text,
                          const HeadsOptions& options);

// The engine's cross_entropy over positions [from, to) of one sequence's logits (1, T, V),
// against targets (1, T): `xgrad heads` and the explorer's loss of a text.
double loss_of_positions(const Array& logits, const Index& targets, std::size_t from, std::size_t to);

// The mean cross-entropy of predicting each token of ids (B, T) from the ones
// before it, with the heads whose gates are 0 switched off (gates empty: all on).
double loss_with_gates(const LanguageModel& model, const Index& idx, const Index& targets,
                       const std::vector<Scalar>& gates);

// `--subject-verb`, on a model of the built-in corpus: fresh sentences from
// its grammar (train/text/corpus.hpp labels each verb's subject), cut into
// windows; for every character of a verb whose subject noun comes before it
// in the same window, each head's total weight on the subject's characters,
// on the nearest other noun before the verb, and what uniform attention
// would give the subject, averaged over those positions.
struct SubjectVerbScores {
    std::size_t pairs = 0, positions = 0;  // verb-subject pairs and verb characters counted
    struct Head {
        std::size_t layer = 0, head = 0;
        double subject = 0, other_noun = 0, uniform = 0, other_uniform = 0;  // uniform's weight on the subject, on the other noun
    };
    std::vector<Head> heads;
};
SubjectVerbScores subject_verb(LanguageModel& model, const Tokenizer& tokenizer, std::size_t windows, std::uint64_t seed);
void print_subject_verb(const SubjectVerbScores& scores, std::ostream& out);
nlohmann::json subject_verb_json(const SubjectVerbScores& scores);

// The table, with each score's uniform baseline and the roles' thresholds under it.
void print_report(const HeadsReport& report, const std::string& checkpoint, std::ostream& out);
nlohmann::json report_json(const HeadsReport& report, const std::string& checkpoint);

// The roles' thresholds, printed under the table.
std::string role_rules();

}  // namespace xgrad::analysis

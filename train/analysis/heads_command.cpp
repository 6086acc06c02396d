// `xgrad heads` (heads_command.hpp): the checks of its input, then the
// analysis, the table, the JSON and the page.
#include "train/analysis/heads_command.hpp"

#include "autograd/error.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/formats/safetensors.hpp"
#include "train/loop/options.hpp"
#include "train/pictures/heads_page.hpp"
#include "train/text/data.hpp"

#include <ostream>
#include <optional>
#include <set>

namespace xgrad::analysis {

namespace {

// Every character in the vocabulary, or an Error naming the first that is
// not with its line and column (1-based), as an editor shows them.
void check_vocabulary(const std::u32string& text, const Tokenizer& tokenizer, const std::string& origin) {
    const std::u32string vocab = tokenizer.chars();
    const std::set<char32_t> known(vocab.begin(), vocab.end());
    std::size_t line = 1, column = 1;
    for (const char32_t c : text) {
        if (!known.count(c)) {
            throw Error(origin + ": character " + describe_char(c) + " at line " + std::to_string(line) + ", column " +
                        std::to_string(column) + " is not in the model's vocabulary");
        }
        if (c == U'\n') ++line, column = 1;
        else ++column;
    }
}

std::vector<std::pair<std::size_t, std::size_t>> parse_ablate(const std::string& list, const std::vector<HeadScores>& heads) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    std::size_t start = 0;
    while (start <= list.size() && !list.empty()) {
        const std::size_t comma = list.find(',', start);
        out.push_back(parse_head(list.substr(start, comma - start), heads));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

}  // namespace

int run_heads(const HeadsCommand& c, std::ostream& out) {
    check_output_path(c.json_out, "--json");
    check_output_path(c.html_out, "--html");
    if (c.options.windows == 0) throw Error("--windows must be at least 1");
    LoadedCheckpoint ck = load_checkpoint(c.checkpoint);
    const std::vector<HeadScores> heads = list_heads(*ck.model);
    if (heads.empty()) {
        throw Error(c.checkpoint + ": holds a '" + ck.model_type + "' model, which has no attention heads to analyse");
    }
    HeadsOptions options = c.options;
    options.ablate = parse_ablate(c.ablate, heads);
    if (c.subject_verb && ck.corpus != "built-in") {
        throw Error("--subject-verb: " + c.checkpoint + " was trained on " + (ck.corpus.empty() ? "an unknown corpus" : ck.corpus) +
                    ", not the built-in corpus, whose grammar labels each verb's subject");
    }
    const std::u32string text = decode_utf8(read_text_file(c.text_file), c.text_file);
    const std::size_t T = ck.model->config.block_size;
    if (text.size() < T + 1) {
        throw Error(c.text_file + ": has " + std::to_string(text.size()) + " characters; the model needs at least block_size + 1 = " +
                    std::to_string(T + 1) + " (one window and its next character)");
    }
    const std::size_t used = std::min(text.size(), options.windows * T + 1);
    check_vocabulary(text.substr(0, used), ck.tokenizer, c.text_file);

    const HeadsReport report = analyse_heads(*ck.model, ck.tokenizer, text.substr(0, used), options);
    print_report(report, c.checkpoint, out);
    std::optional<SubjectVerbScores> sv;
    if (c.subject_verb) {
        sv = subject_verb(*ck.model, ck.tokenizer, std::max<std::size_t>(options.windows, 256), options.seed);
        print_subject_verb(*sv, out);
    }
    if (!c.json_out.empty()) {
        nlohmann::json j = report_json(report, c.checkpoint);
        if (sv) j["subject_verb"] = subject_verb_json(*sv);
        safetensors::write_file_atomic(c.json_out, j.dump(2) + "\n");
    }
    if (!c.html_out.empty()) {
        safetensors::write_file_atomic(c.html_out, heads_html(report, c.checkpoint, text.substr(0, T)));
    }
    return 0;
}

}  // namespace xgrad::analysis

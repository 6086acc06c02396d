// The layout of the corpus's sentences: render and tokenize (grammar.hpp).
#include "train/text/grammar.hpp"

namespace xgrad::grammar {

namespace {

bool is_end(std::string_view t) { return t == "." || t == "!" || t == "?"; }

}  // namespace

void render(const std::vector<std::string_view>& tokens, std::string& out, std::vector<std::size_t>* offsets) {
    bool in_quote = false;
    bool after_opening = false;  // the previous token opened a quote
    bool capital = true;         // the next word starts a sentence
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        std::string_view t = tokens[i];
        bool opening = t == "\"" && !in_quote;
        bool closing = t == "\"" && in_quote;
        bool glued = i == 0 || after_opening || closing || t == "," || is_end(t);
        if (!glued) out += ' ';
        if (offsets) offsets->push_back(out.size());
        if (capital && t[0] >= 'a' && t[0] <= 'z') {
            out += char(t[0] - 'a' + 'A');
            out.append(t.substr(1));
        } else {
            out.append(t);
        }
        if (opening || closing) in_quote = !in_quote;
        after_opening = opening;
        capital = opening;  // only the first word, and the first word inside the quote
    }
}

bool tokenize(std::string_view text, std::vector<std::string>& tokens) {
    for (std::size_t i = 0; i < text.size();) {
        char c = text[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (letter) {
            std::string word;
            while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z'))) {
                char l = text[i++];
                word += (l >= 'A' && l <= 'Z') ? char(l - 'A' + 'a') : l;
            }
            tokens.push_back(std::move(word));
        } else if (c == ',' || c == '.' || c == '!' || c == '?' || c == '"') {
            tokens.emplace_back(1, c);
            ++i;
        } else if (c == ' ') {
            ++i;  // spaces separate tokens; render() checks there is exactly one where one belongs
        } else {
            return false;
        }
    }
    return true;
}

}  // namespace xgrad::grammar

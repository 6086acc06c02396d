// The built-in corpus's checker (is_valid_sentence and check_sentences, train/text/corpus.hpp): a recursive-descent
// parser of the grammar in grammar.hpp, one method per rule, in the grammar's order. `xgrad sample` and `xgrad train`
// report with it the share of valid sentences a model wrote.
#include "train/text/corpus.hpp"

#include "train/text/grammar.hpp"

#include <vector>

namespace xgrad {
namespace {

using namespace grammar;

// A recursive-descent parser: one method per rule, each consuming tokens and returning whether the rule matched
// (or, for noun phrases, the number that matched, 0 for no match). A choice is tried alternative by alternative,
// rewinding to where it started; the word lists never overlap, so one look at the next word usually decides.
class Parser {
public:
    explicit Parser(const std::vector<std::string_view>& tokens) : tokens_(tokens) {}

    // The whole input is one sentence.
    bool parse() { return sentence() && pos_ == tokens_.size(); }

private:
    const std::vector<std::string_view>& tokens_;
    std::size_t pos_ = 0;
    int depth_ = 0;  // relative clauses open now; capped so a pathological input cannot overflow the stack

    std::string_view peek() const { return pos_ < tokens_.size() ? tokens_[pos_] : std::string_view(); }
    bool take(std::string_view t) {
        if (pos_ >= tokens_.size() || tokens_[pos_] != t) return false;
        ++pos_;
        return true;
    }
    // Takes the next word if it is in list.
    template <std::size_t N>
    bool take_any(const std::string_view (&list)[N]) {
        for (std::string_view w : list) {
            if (take(w)) return true;
        }
        return false;
    }
    // Takes the next word if it is a form in list; returns the numbers it fits (0: not a form, nothing taken).
    template <std::size_t N>
    unsigned take_form(const Forms (&list)[N]) {
        for (const Forms& f : list) {
            if (unsigned n = number_of(f, peek())) {
                ++pos_;
                return n;
            }
        }
        return 0;
    }
    // Takes a determiner; returns the numbers it fits ("the" fits both).
    unsigned take_det() {
        unsigned n = 0;
        for (std::string_view w : singular_dets) n |= w == peek() ? unsigned(Sing) : 0u;
        for (std::string_view w : plural_dets) n |= w == peek() ? unsigned(Plur) : 0u;
        if (n) ++pos_;
        return n;
    }

    // sentence := question "?" | speech | statement ("." | "!")
    bool sentence() {
        std::size_t start = pos_;
        if (question() && take("?")) return true;
        pos_ = start;
        if (speech()) return true;
        pos_ = start;
        return statement() && (take(".") || take("!"));
    }

    // speech := subject(n) SAY(n) "," '"' statement "." '"' | ... SHOUT(n) ... "!" | ... ASK(n) ... question "?"
    bool speech() {
        unsigned n = subject();
        if (!n) return false;
        for (const SpeechVerb& verb : speech_verbs) {
            unsigned v = number_of(verb.forms, peek());
            if (!v) continue;
            ++pos_;
            if (!(v & n) || !take(",") || !take("\"")) return false;
            bool inner = verb.end == "?" ? question() : statement();
            return inner && take(verb.end) && take("\"");
        }
        return false;
    }

    // statement := subject(n) predicate(n)
    bool statement() {
        unsigned n = subject();
        return n && predicate(n);
    }

    // question := DO(n) subject(n) action(base) | BE(n) subject(n) ADJ
    bool question() {
        if (unsigned d = take_form(do_verbs)) {
            unsigned n = subject();
            return (n & d) && action(Base);
        }
        if (unsigned b = take_form(be_verbs)) {
            unsigned n = subject();
            return (n & b) && take_any(adjectives);
        }
        return false;
    }

    // subject(n) := np(n) | np(_) "and" np(_), the pair being plural. Returns n, or 0.
    unsigned subject() {
        unsigned n = np();
        if (!n || !take("and")) return n;
        return np() ? unsigned(Plur) : 0;
    }

    // np(n) := DET(n) [ADJ] NOUN(n) [relative(n)]. Returns n, or 0.
    unsigned np() {
        unsigned det = take_det();
        if (!det) return 0;
        take_any(adjectives);
        unsigned n = take_form(nouns) & det;  // "a cats": the determiner and the noun disagree
        if (!n) return 0;
        std::size_t before = pos_;
        if (!relative(n)) pos_ = before;  // the relative clause is optional
        return n;
    }

    // relative(n) := "that" predicate(n) | "that" np(m) TV(m)
    bool relative(unsigned n) {
        if (depth_ >= 8 || !take("that")) return false;
        ++depth_;
        std::size_t start = pos_;
        bool ok = predicate(n);
        if (!ok) {
            pos_ = start;
            unsigned m = np();
            ok = m && (take_form(transitive_verbs) & m);
        }
        --depth_;
        return ok;
    }

    // predicate(n) := action(n) | BE(n) ADJ
    bool predicate(unsigned n) {
        if (unsigned b = take_form(be_verbs)) return (b & n) && take_any(adjectives);
        return action(n);
    }

    // action(n) := IV(n) [pp] | TV(n) np(_)
    bool action(unsigned n) {
        if (unsigned v = take_form(intransitive_verbs)) {
            if (!(v & n)) return false;
            std::size_t before = pos_;
            if (!pp()) pos_ = before;  // the place is optional
            return true;
        }
        if (unsigned v = take_form(transitive_verbs)) return (v & n) && np();
        return false;
    }

    // pp := PREP DET(m) [ADJ] PLACE(m)
    bool pp() {
        if (!take_any(prepositions)) return false;
        unsigned det = take_det();
        take_any(adjectives);
        return (take_form(places) & det) != 0;
    }
};

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

}  // namespace

bool is_valid_sentence(std::string_view sentence) {
    std::vector<std::string> words;
    if (!tokenize(sentence, words)) return false;
    std::vector<std::string_view> tokens(words.begin(), words.end());
    // Layout first: the words, laid out as the generator would, must give back the input exactly.
    std::string canonical;
    render(tokens, canonical);
    if (canonical != sentence) return false;
    return Parser(tokens).parse();
}

SentenceReport check_sentences(std::string_view text, std::size_t max_sentences) {
    SentenceReport report;
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size() && report.sentences < max_sentences; ++i) {
        if (text[i] != '.' && text[i] != '!' && text[i] != '?') continue;
        std::size_t end = i + 1;
        if (end < text.size() && text[end] == '"') ++end;  // the closing quote belongs to the sentence
        ++report.sentences;
        if (is_valid_sentence(trim(text.substr(start, end - start)))) ++report.valid;
        start = end;
        i = end - 1;
    }
    return report;  // text after the last end mark is an unfinished fragment: not counted
}

}  // namespace xgrad

// The toy corpus: a small grammar, a generator that writes random sentences from it, and a recursive-descent parser
// that checks a sentence against it. Generator and parser are written rule by rule in the same order, so each rule
// below can be read three times: here, in Generator, and in Parser.
//
// The grammar. (n) is the grammatical number, singular or plural; a rule's (n) must agree with every (n) it uses.
// Quoted words are literal; UPPER names are word lists (see "The words" below). [x] is optional, a | b a choice.
//
//   sentence    := question "?"
//                | speech
//                | statement ("." | "!")
//   speech      := subject(n) SAY(n) "," '"' statement "." '"'     The king says, "The cat sleeps."
//                | subject(n) SHOUT(n) "," '"' statement "!" '"'   The dogs shout, "The fox runs!"
//                | subject(n) ASK(n) "," '"' question "?" '"'      The queen asked, "Does the cat sleep?"
//   statement   := subject(n) predicate(n)
//   question    := DO(n) subject(n) action(base)                   Does the cat sleep on the mat?
//                | BE(n) subject(n) ADJ                            Are the dogs happy?
//   subject(n)  := np(n)
//                | np(_) "and" np(_)          with n = plural      The cat and the dog sleep.
//   np(n)       := DET(n) [ADJ] NOUN(n) [relative(n)]
//   relative(n) := "that" predicate(n)        the gap is the subject: the cats that chase the dog
//                | "that" np(m) TV(m)         the gap is the object:  the cats that the dog chases
//   predicate(n):= action(n)
//                | BE(n) ADJ                                       The cats are lazy.
//   action(n)   := IV(n) [pp]                                      The cat sleeps on the mat.
//                | TV(n) np(_)                                     The cat sees the dogs.
//   pp          := PREP DET(m) [ADJ] PLACE(m)                      on the big mats
//
// The agreement that needs a long look back: in "The cats that the dog sees sleep." the main verb agrees with
// "cats", while the nearest noun is "dog". Past tenses ("slept", "saw", "said") agree with both numbers, except
// "was"/"were". (base) is the bare verb after does/do, spelled like the plural ("sleep", "see").
//
// The layout (render): one space between words, none before , . ! ? or a closing quote, none after an opening
// quote; a capital letter on the first word and on the first word inside the quote. The parser checks the layout
// by rendering the words it read and comparing with the input.
#include "train/text/corpus.hpp"

#include <vector>

namespace xgrad {
namespace {

// ---- The words ----------------------------------------------------------------------------------------------

// Grammatical number as a bit set, so one test "form & wanted" checks agreement. A word carries every number it
// fits: "the" and "slept" fit both, "sleep" is plural and also the bare form after does/do.
enum Number : unsigned { Sing = 1, Plur = 2, Base = 4 };

// The forms of one noun or verb. past is empty for nouns and for do.
struct Forms {
    std::string_view sing, plur;
    std::string_view past = {};
};

// The numbers a word fits as a form of f, or 0 if it is not one of f's forms.
unsigned number_of(const Forms& f, std::string_view word) {
    if (word.empty()) return 0;
    if (word == f.sing) return Sing;
    if (word == f.plur) return Plur | Base;
    if (word == f.past) return Sing | Plur;
    return 0;
}

// All adjectives and nouns start with a consonant, so "a" never needs to be "an".
const std::string_view singular_dets[] = {"the", "a", "this", "every", "one"};
const std::string_view plural_dets[] = {"the", "these", "some", "two", "many"};
const std::string_view adjectives[] = {"big", "small", "red", "black", "lazy", "happy", "sleepy", "little"};
const std::string_view prepositions[] = {"on", "under", "near", "in", "behind"};

const Forms nouns[] = {{"cat", "cats"},     {"dog", "dogs"},   {"bird", "birds"}, {"fox", "foxes"},
                       {"frog", "frogs"},   {"queen", "queens"}, {"king", "kings"}, {"mouse", "mice"}};
const Forms places[] = {{"mat", "mats"}, {"hat", "hats"},     {"box", "boxes"}, {"bed", "beds"},
                        {"tree", "trees"}, {"chair", "chairs"}, {"rug", "rugs"},  {"house", "houses"}};

const Forms intransitive_verbs[] = {  // IV
    {"sleeps", "sleep", "slept"}, {"sits", "sit", "sat"}, {"runs", "run", "ran"},
    {"sings", "sing", "sang"},    {"waits", "wait", "waited"}};
const Forms transitive_verbs[] = {  // TV
    {"sees", "see", "saw"},     {"chases", "chase", "chased"},   {"likes", "like", "liked"},
    {"finds", "find", "found"}, {"watches", "watch", "watched"}};
// BE: "was"/"were" is a second entry rather than a past form, because it still agrees in number.
const Forms be_verbs[] = {{"is", "are"}, {"was", "were"}};
const Forms do_verbs[] = {{"does", "do"}};  // DO

// SAY, SHOUT, ASK: each one fixes how the quote it introduces must end.
struct SpeechVerb {
    Forms forms;
    std::string_view end;  // the punctuation just before the closing quote
};
const SpeechVerb speech_verbs[] = {{{"says", "say", "said"}, "."},
                                   {{"shouts", "shout", "shouted"}, "!"},
                                   {{"asks", "ask", "asked"}, "?"}};

// ---- The layout -----------------------------------------------------------------------------------------------

bool is_end(std::string_view t) { return t == "." || t == "!" || t == "?"; }

// Appends the tokens (lowercase words and punctuation) to out as English text, with the spaces and capitals
// described at the top of this file.
void render(const std::vector<std::string_view>& tokens, std::string& out) {
    bool in_quote = false;
    bool after_opening = false;  // the previous token opened a quote
    bool capital = true;         // the next word starts a sentence
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        std::string_view t = tokens[i];
        bool opening = t == "\"" && !in_quote;
        bool closing = t == "\"" && in_quote;
        bool glued = i == 0 || after_opening || closing || t == "," || is_end(t);
        if (!glued) out += ' ';
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

// Splits a sentence into lowercase words and the punctuation tokens , . ! ? and ". Returns false on any other
// character (digits, tabs, newlines, non-ASCII...), which no sentence of the grammar contains.
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

// ---- The generator ----------------------------------------------------------------------------------------------

// splitmix64 (Steele, Lea and Flood, 2014): a few lines, good statistics, and the same numbers on every platform.
struct SplitMix64 {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    // Uniform in [0, n); the modulo bias is about n / 2^64, far below anything visible here.
    std::size_t below(std::size_t n) { return std::size_t(next() % n); }
    bool percent(unsigned p) { return below(100) < p; }
};

// Writes random sentences, one rule per method, with the same names as the grammar. The percentages shape the
// corpus: how often a subject carries a relative clause (the long-range agreement), how often a quote or question
// appears. Relative clauses nest at most one deep, so sentences stay short enough for a 32-character context to
// see most of what each word depends on.
class Generator {
public:
    explicit Generator(SplitMix64& rng) : rng_(rng) {}

    // Appends one random sentence to out.
    void write_sentence(std::string& out) {
        tokens_.clear();
        sentence();
        render(tokens_, out);
    }

private:
    SplitMix64& rng_;
    std::vector<std::string_view> tokens_;  // the sentence being built, as lowercase words and punctuation

    void emit(std::string_view t) { tokens_.push_back(t); }
    template <typename T, std::size_t N>
    const T& pick(const T (&list)[N]) {
        return list[rng_.below(N)];
    }
    Number any_number() { return rng_.percent(50) ? Sing : Plur; }

    // The form of f for number n (Sing, Plur or Base); one time in ten a past tense, which fits any subject.
    std::string_view form(const Forms& f, Number n) {
        if (n != Base && !f.past.empty() && rng_.percent(10)) return f.past;
        return n == Sing ? f.sing : f.plur;
    }
    const Forms& be() { return be_verbs[rng_.percent(10) ? 1 : 0]; }  // mostly "is"/"are"

    // sentence := question "?" | speech | statement ("." | "!")
    void sentence() {
        std::size_t r = rng_.below(100);
        if (r < 15) {
            question();
            emit("?");
        } else if (r < 40) {
            speech();
        } else {
            statement(/*relative_percent=*/45);
            emit(rng_.percent(10) ? "!" : ".");
        }
    }

    // speech := subject(n) SAY(n) "," '"' statement "." '"' | ... SHOUT(n) ... "!" | ... ASK(n) ... question "?"
    void speech() {
        Number n = any_number();
        subject(n, /*relative_percent=*/15);
        const SpeechVerb& verb = pick(speech_verbs);
        emit(form(verb.forms, n));
        emit(",");
        emit("\"");
        if (verb.end == "?") {
            question();
        } else {
            statement(/*relative_percent=*/25);
        }
        emit(verb.end);
        emit("\"");
    }

    // statement := subject(n) predicate(n)
    void statement(unsigned relative_percent) {
        Number n = any_number();
        subject(n, relative_percent);
        predicate(n, /*relative_percent=*/10);
    }

    // question := DO(n) subject(n) action(base) | BE(n) subject(n) ADJ
    void question() {
        Number n = any_number();
        if (rng_.percent(70)) {
            emit(form(do_verbs[0], n));
            subject(n, /*relative_percent=*/25);
            action(Base, /*relative_percent=*/5);
        } else {
            emit(form(be(), n));
            subject(n, /*relative_percent=*/25);
            emit(pick(adjectives));
        }
    }

    // subject(n) := np(n) | np(_) "and" np(_), the pair being plural
    void subject(Number n, unsigned relative_percent) {
        if (n == Plur && rng_.percent(12)) {
            np(any_number(), 0);
            emit("and");
            np(any_number(), 0);
        } else {
            np(n, relative_percent);
        }
    }

    // np(n) := DET(n) [ADJ] NOUN(n) [relative(n)]
    void np(Number n, unsigned relative_percent) {
        emit(n == Sing ? pick(singular_dets) : pick(plural_dets));
        if (rng_.percent(25)) emit(pick(adjectives));
        emit(form(pick(nouns), n));
        if (rng_.percent(relative_percent)) relative(n);
    }

    // relative(n) := "that" predicate(n) | "that" np(m) TV(m); nothing inside it gets a relative clause of its own
    void relative(Number n) {
        emit("that");
        if (rng_.percent(50)) {
            predicate(n, 0);
        } else {
            Number m = any_number();
            np(m, 0);
            emit(form(pick(transitive_verbs), m));
        }
    }

    // predicate(n) := action(n) | BE(n) ADJ
    void predicate(Number n, unsigned relative_percent) {
        if (rng_.percent(20)) {
            emit(form(be(), n));
            emit(pick(adjectives));
        } else {
            action(n, relative_percent);
        }
    }

    // action(n) := IV(n) [pp] | TV(n) np(_)
    void action(Number n, unsigned relative_percent) {
        if (rng_.percent(50)) {
            emit(form(pick(intransitive_verbs), n));
            if (rng_.percent(60)) pp();
        } else {
            emit(form(pick(transitive_verbs), n));
            np(any_number(), relative_percent);
        }
    }

    // pp := PREP DET(m) [ADJ] PLACE(m)
    void pp() {
        Number m = any_number();
        emit(pick(prepositions));
        emit(m == Sing ? pick(singular_dets) : pick(plural_dets));
        if (rng_.percent(20)) emit(pick(adjectives));
        emit(form(pick(places), m));
    }
};

// ---- The parser -------------------------------------------------------------------------------------------------

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

std::string generate_corpus(std::size_t min_bytes, std::uint64_t seed) {
    SplitMix64 rng{seed};
    Generator generator(rng);
    std::string text;
    text.reserve(min_bytes + 1024);
    while (text.size() < min_bytes) {
        std::size_t per_line = 1 + rng.below(3);  // one to three sentences on a line
        for (std::size_t i = 0; i < per_line; ++i) {
            if (i > 0) text += ' ';
            generator.write_sentence(text);
        }
        text += '\n';
    }
    return text;
}

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

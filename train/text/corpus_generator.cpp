// The built-in corpus's generator (generate_corpus, train/text/corpus.hpp): random sentences of the grammar in
// grammar.hpp, one method per rule, in the grammar's order.
#include "train/text/corpus.hpp"

#include "autograd/random.hpp"
#include "train/text/grammar.hpp"

#include <cstdint>
#include <vector>

namespace xgrad {
namespace {

using namespace grammar;

// The grammar's dice: SplitMix64 (autograd/random.hpp), the same numbers on every platform.
struct Dice {
    SplitMix64 rng;
    // Uniform in [0, n); the modulo bias is about n / 2^64, far below anything visible here.
    std::size_t below(std::size_t n) { return std::size_t(rng.next() % n); }
    bool percent(unsigned p) { return below(100) < p; }
};

// Writes random sentences, one rule per method, with the same names as the grammar. The percentages shape the
// corpus: how often a subject carries a relative clause (the long-range agreement), how often a quote or question
// appears. Relative clauses nest at most one deep, so sentences stay short enough for a 32-character context to
// see most of what each word depends on.
class SentenceWriter {
public:
    explicit SentenceWriter(Dice& rng) : rng_(rng) {}

    // Appends one random sentence to out; with `labels`, also each verb's
    // subject, as character spans of out.
    void write_sentence(std::string& out, CorpusLabels* labels = nullptr) {
        tokens_.clear();
        agreements_.clear();
        nouns_.clear();
        sentence();
        std::vector<std::size_t> offsets;
        render(tokens_, out, &offsets);
        if (!labels) return;
        auto span = [&](std::size_t token) { return CorpusLabels::Span{offsets[token], offsets[token] + tokens_[token].size()}; };
        for (const auto& [verb, subject] : agreements_) labels->agreements.push_back({span(verb), span(subject)});
        for (const std::size_t noun : nouns_) labels->nouns.push_back(span(noun));
    }

private:
    static constexpr std::size_t kNone = SIZE_MAX;  // a conjoined subject ("the cat and the dog"): no one noun

    Dice& rng_;
    std::vector<std::string_view> tokens_;  // the sentence being built, as lowercase words and punctuation
    std::vector<std::pair<std::size_t, std::size_t>> agreements_;  // (verb token, its subject's noun token)
    std::vector<std::size_t> nouns_;                                // every noun token

    // Emits t; returns its token index.
    std::size_t emit(std::string_view t) {
        tokens_.push_back(t);
        return tokens_.size() - 1;
    }
    // The verb at token `verb` agrees with the noun at token `subject`.
    void agrees(std::size_t verb, std::size_t subject) {
        if (subject != kNone) agreements_.emplace_back(verb, subject);
    }
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
        const std::size_t who = subject(n, /*relative_percent=*/15);
        const SpeechVerb& verb = pick(speech_verbs);
        agrees(emit(form(verb.forms, n)), who);
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
        const std::size_t who = subject(n, relative_percent);
        predicate(n, /*relative_percent=*/10, who);
    }

    // question := DO(n) subject(n) action(base) | BE(n) subject(n) ADJ
    void question() {
        Number n = any_number();
        if (rng_.percent(70)) {
            const std::size_t does = emit(form(do_verbs[0], n));
            const std::size_t who = subject(n, /*relative_percent=*/25);
            agrees(does, who);
            action(Base, /*relative_percent=*/5, kNone);  // the bare form agrees with nothing: "does" did
        } else {
            const std::size_t is = emit(form(be(), n));
            agrees(is, subject(n, /*relative_percent=*/25));
            emit(pick(adjectives));
        }
    }

    // subject(n) := np(n) | np(_) "and" np(_), the pair being plural. Returns
    // the subject's noun token (kNone for the pair).
    std::size_t subject(Number n, unsigned relative_percent) {
        if (n == Plur && rng_.percent(12)) {
            np(any_number(), 0);
            emit("and");
            np(any_number(), 0);
            return kNone;
        }
        return np(n, relative_percent);
    }

    // np(n) := DET(n) [ADJ] NOUN(n) [relative(n)]. Returns the noun's token.
    std::size_t np(Number n, unsigned relative_percent) {
        emit(n == Sing ? pick(singular_dets) : pick(plural_dets));
        if (rng_.percent(25)) emit(pick(adjectives));
        const std::size_t noun = emit(form(pick(nouns), n));
        nouns_.push_back(noun);
        if (rng_.percent(relative_percent)) relative(n, noun);
        return noun;
    }

    // relative(n) := "that" predicate(n) | "that" np(m) TV(m); nothing inside it gets a relative clause of its own.
    // In the first the modified noun is the verb's subject, in the second the inner np.
    void relative(Number n, std::size_t noun) {
        emit("that");
        if (rng_.percent(50)) {
            predicate(n, 0, noun);
        } else {
            Number m = any_number();
            const std::size_t inner = np(m, 0);
            agrees(emit(form(pick(transitive_verbs), m)), inner);
        }
    }

    // predicate(n) := action(n) | BE(n) ADJ
    void predicate(Number n, unsigned relative_percent, std::size_t who) {
        if (rng_.percent(20)) {
            agrees(emit(form(be(), n)), who);
            emit(pick(adjectives));
        } else {
            action(n, relative_percent, who);
        }
    }

    // action(n) := IV(n) [pp] | TV(n) np(_)
    void action(Number n, unsigned relative_percent, std::size_t who) {
        if (rng_.percent(50)) {
            agrees(emit(form(pick(intransitive_verbs), n)), who);
            if (rng_.percent(60)) pp();
        } else {
            agrees(emit(form(pick(transitive_verbs), n)), who);
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

}  // namespace

namespace {

std::string write_corpus_text(std::size_t min_bytes, std::uint64_t seed, CorpusLabels* labels) {
    Dice rng{SplitMix64{seed}};
    SentenceWriter writer(rng);
    std::string text;
    text.reserve(min_bytes + 1024);
    while (text.size() < min_bytes) {
        std::size_t per_line = 1 + rng.below(3);  // one to three sentences on a line
        for (std::size_t i = 0; i < per_line; ++i) {
            if (i > 0) text += ' ';
            writer.write_sentence(text, labels);
        }
        text += '\n';
    }
    return text;
}

}  // namespace

std::string generate_corpus(std::size_t min_bytes, std::uint64_t seed) { return write_corpus_text(min_bytes, seed, nullptr); }

CorpusLabels generate_labelled_corpus(std::size_t min_bytes, std::uint64_t seed) {
    CorpusLabels labels;
    labels.text = write_corpus_text(min_bytes, seed, &labels);
    return labels;
}

}  // namespace xgrad

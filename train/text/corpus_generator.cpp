// The built-in corpus's generator (generate_corpus, train/text/corpus.hpp): random sentences of the grammar in
// grammar.hpp, one method per rule, in the grammar's order.
#include "train/text/corpus.hpp"

#include "autograd/random.hpp"
#include "train/text/grammar.hpp"

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

    // Appends one random sentence to out.
    void write_sentence(std::string& out) {
        tokens_.clear();
        sentence();
        render(tokens_, out);
    }

private:
    Dice& rng_;
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

}  // namespace

std::string generate_corpus(std::size_t min_bytes, std::uint64_t seed) {
    Dice rng{SplitMix64{seed}};
    SentenceWriter writer(rng);
    std::string text;
    text.reserve(min_bytes + 1024);
    while (text.size() < min_bytes) {
        std::size_t per_line = 1 + rng.below(3);  // one to three sentences on a line
        for (std::size_t i = 0; i < per_line; ++i) {
            if (i > 0) text += ' ';
            writer.write_sentence(text);
        }
        text += '\n';
    }
    return text;
}

}  // namespace xgrad

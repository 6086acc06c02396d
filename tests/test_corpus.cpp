// Tests of the toy corpus: generation is deterministic and plain, every generated sentence passes the checker, the
// checker rejects what breaks the grammar (above all the long-range parts), and the long-range parts are common.
#include "train/text/corpus.hpp"
#include "train/text/grammar.hpp"

#include <doctest/doctest.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

using namespace xgrad;

namespace {

// The default corpus, generated once for all the tests that read it.
const std::string& corpus() {
    static const std::string text = generate_corpus();
    return text;
}

// The sentences of a text, split as check_sentences splits them, trimmed.
std::vector<std::string> split_sentences(const std::string& text) {
    std::vector<std::string> sentences;
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '.' && text[i] != '!' && text[i] != '?') continue;
        std::size_t end = i + 1;
        if (end < text.size() && text[end] == '"') ++end;
        std::size_t first = text.find_first_not_of(" \n", start);
        sentences.push_back(text.substr(first, end - first));
        start = end;
        i = end - 1;
    }
    return sentences;
}

// The lowercase words of a sentence, punctuation dropped.
std::vector<std::string> words_of(const std::string& sentence) {
    std::vector<std::string> words(1);
    for (char c : sentence) {
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
        if (c >= 'a' && c <= 'z') {
            words.back() += c;
        } else if (!words.back().empty()) {
            words.emplace_back();
        }
    }
    if (words.back().empty()) words.pop_back();
    return words;
}

// Replaces the whole word at index `word` of the sentence's words by `with`.
std::string replace_word(const std::string& sentence, std::size_t word, const std::string& with) {
    std::size_t index = 0;
    for (std::size_t i = 0; i < sentence.size();) {
        bool letter = (sentence[i] >= 'a' && sentence[i] <= 'z') || (sentence[i] >= 'A' && sentence[i] <= 'Z');
        if (!letter) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < sentence.size() && ((sentence[j] >= 'a' && sentence[j] <= 'z') ||
                                       (sentence[j] >= 'A' && sentence[j] <= 'Z'))) {
            ++j;
        }
        if (index++ == word) return sentence.substr(0, i) + with + sentence.substr(j);
        i = j;
    }
    return sentence;
}

// Singular and plural forms the tests know about (a copy of part of the grammar's word lists, on purpose: the
// tests should not trust the code they test).
const std::vector<std::pair<std::string, std::string>> verb_numbers = {
    {"sleeps", "sleep"}, {"sits", "sit"},       {"runs", "run"},   {"sings", "sing"},     {"waits", "wait"},
    {"sees", "see"},     {"chases", "chase"},   {"likes", "like"}, {"finds", "find"},     {"watches", "watch"},
    {"is", "are"},       {"was", "were"},       {"does", "do"},    {"says", "say"},       {"shouts", "shout"},
    {"asks", "ask"}};
const std::vector<std::string> singular_nouns = {"cat", "dog", "bird", "fox", "frog", "queen", "king", "mouse"};
const std::vector<std::string> plural_nouns = {"cats", "dogs", "birds", "foxes", "frogs", "queens", "kings", "mice"};
const std::vector<std::string> determiners = {"the", "a", "this", "every", "one", "these", "some", "two", "many"};

bool contains(const std::vector<std::string>& list, const std::string& word) {
    for (const std::string& w : list) {
        if (w == word) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("generate_corpus is deterministic, at least 1 MB, and plain ASCII") {
    const std::string& text = corpus();
    CHECK(text.size() >= 1'048'576);
    CHECK(generate_corpus() == text);
    CHECK(generate_corpus(1'100'000, 1338) != text);
    std::size_t bad = 0;
    for (char c : text) bad += !(c == '\n' || (c >= ' ' && c <= '~'));
    CHECK(bad == 0);
    CHECK(text.back() == '\n');
}

TEST_CASE("a smaller corpus is the start of a larger one, cut after a whole line") {
    std::string small = generate_corpus(1000);
    CHECK(small.size() >= 1000);
    CHECK(small.size() < 1500);
    CHECK(corpus().compare(0, small.size(), small) == 0);
    CHECK(small.back() == '\n');
    CHECK(generate_corpus(0).empty());
}

TEST_CASE("every sentence of the generated corpus is valid") {
    SentenceReport report = check_sentences(corpus());
    CHECK(report.sentences > 20000);
    CHECK(report.valid == report.sentences);
    CHECK(split_sentences(corpus()).size() == report.sentences);
}

TEST_CASE("is_valid_sentence accepts hand-written sentences of the grammar") {
    CHECK(is_valid_sentence("The cat sat on the mat."));
    CHECK(is_valid_sentence("The cats that the dog sees sleep on the mat."));
    CHECK(is_valid_sentence("The cat that the dogs see sleeps on the mat."));
    CHECK(is_valid_sentence("The cats that chase the dog sleep."));
    CHECK(is_valid_sentence("The queen said, \"The fox sleeps.\""));
    CHECK(is_valid_sentence("The kings shout, \"A fox runs!\""));
    CHECK(is_valid_sentence("The king asks, \"Does the cat that the dogs chase sleep?\""));
    CHECK(is_valid_sentence("Are the birds happy?"));
    CHECK(is_valid_sentence("Do the cat and the dog sit in the box?"));
    CHECK(is_valid_sentence("The cat and the dog sleep under the big tree."));
    CHECK(is_valid_sentence("Every little mouse that sees the cats is sleepy."));
    CHECK(is_valid_sentence("The mice were lazy!"));
    CHECK(is_valid_sentence("The fox saw the birds that the cats watched."));
}

TEST_CASE("is_valid_sentence rejects broken sentences") {
    SUBCASE("number agreement broken across a relative clause") {
        CHECK_FALSE(is_valid_sentence("The cats that the dog sees sleeps on the mat."));
        CHECK_FALSE(is_valid_sentence("The cat that the dogs see sleep on the mat."));
        CHECK_FALSE(is_valid_sentence("The cats that the dog see sleep on the mat."));
        CHECK_FALSE(is_valid_sentence("The cats that chases the dog sleep."));
        CHECK_FALSE(is_valid_sentence("Does the cats that the dog sees sleep?"));
    }
    SUBCASE("other agreement") {
        CHECK_FALSE(is_valid_sentence("The cat and the dog sleeps."));
        CHECK_FALSE(is_valid_sentence("A cats sleep."));
        CHECK_FALSE(is_valid_sentence("These cat sleeps."));
        CHECK_FALSE(is_valid_sentence("The cat were happy."));
        CHECK_FALSE(is_valid_sentence("Does the cat sleeps?"));
        CHECK_FALSE(is_valid_sentence("Does the cat slept?"));
        CHECK_FALSE(is_valid_sentence("The queens says, \"The fox sleeps.\""));
    }
    SUBCASE("quotes") {
        CHECK_FALSE(is_valid_sentence("The queen said, \"The fox sleeps."));
        CHECK_FALSE(is_valid_sentence("The queen said, The fox sleeps.\""));
        CHECK_FALSE(is_valid_sentence("The queen said, \"The fox sleeps.\"\""));
        CHECK_FALSE(is_valid_sentence("The queen asked, \"The fox sleeps.\""));  // asking wants a question
        CHECK_FALSE(is_valid_sentence("The queen said, \"Does the fox sleep?\""));
        CHECK_FALSE(is_valid_sentence("The queen shouted, \"The fox sleeps.\""));  // shouting wants a '!'
        CHECK_FALSE(is_valid_sentence("The queen said, \"The king said, \"The fox sleeps.\"\""));  // no nesting
    }
    SUBCASE("end punctuation") {
        CHECK_FALSE(is_valid_sentence("The cat sleeps"));
        CHECK_FALSE(is_valid_sentence("Does the cat sleep."));
        CHECK_FALSE(is_valid_sentence("The cat sleeps?"));
        CHECK_FALSE(is_valid_sentence("The cat sleeps.."));
    }
    SUBCASE("unknown words and structure") {
        CHECK_FALSE(is_valid_sentence("The cat sleeps on the moon."));
        CHECK_FALSE(is_valid_sentence("The cat sleepz."));
        CHECK_FALSE(is_valid_sentence("The cat sees."));
        CHECK_FALSE(is_valid_sentence("The cat sleeps the dog."));
        CHECK_FALSE(is_valid_sentence("The mat sleeps."));
        CHECK_FALSE(is_valid_sentence("The cat sleeps on the dog."));
        CHECK_FALSE(is_valid_sentence(""));
        CHECK_FALSE(is_valid_sentence("."));
    }
    SUBCASE("layout") {
        CHECK_FALSE(is_valid_sentence("the cat sleeps."));
        CHECK_FALSE(is_valid_sentence("The Cat sleeps."));
        CHECK_FALSE(is_valid_sentence("The queen said, \"the fox sleeps.\""));
        CHECK_FALSE(is_valid_sentence("The cat  sleeps."));
        CHECK_FALSE(is_valid_sentence("The cat sleeps ."));
        CHECK_FALSE(is_valid_sentence("The cat\nsleeps."));
        CHECK_FALSE(is_valid_sentence("The queen said,\"The fox sleeps.\""));
        CHECK_FALSE(is_valid_sentence("The queen said, \" The fox sleeps.\""));
        CHECK_FALSE(is_valid_sentence(" The cat sleeps."));  // not trimmed
        CHECK_FALSE(is_valid_sentence("The cat sl\xc3\xa9" "eps."));
    }
}

TEST_CASE("swapping two neighbouring characters breaks a sentence") {
    std::vector<std::string> sentences = split_sentences(corpus());
    std::uint64_t state = 42;  // a small LCG picks the positions; any fixed choice would do
    std::size_t tried = 0;
    for (std::size_t s = 0; s < 3000; ++s) {
        std::string sentence = sentences[s];
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        std::size_t i = std::size_t(state >> 33) % (sentence.size() - 1);
        if (sentence[i] == sentence[i + 1]) continue;
        std::swap(sentence[i], sentence[i + 1]);
        ++tried;
        INFO(sentences[s], " -> ", sentence);
        CHECK_FALSE(is_valid_sentence(sentence));
    }
    CHECK(tried > 2500);
}

TEST_CASE("flipping the number of any present-tense verb breaks a sentence") {
    // Agreement is checked wherever it applies: in the main clause, in relative clauses, after does/do and is/are,
    // and on the verb that introduces a quote.
    std::size_t flipped = 0;
    for (const std::string& sentence : split_sentences(corpus())) {
        std::vector<std::string> words = words_of(sentence);
        for (std::size_t w = 0; w < words.size(); ++w) {
            for (const auto& [sing, plur] : verb_numbers) {
                std::string other = words[w] == sing ? plur : words[w] == plur ? sing : "";
                if (other.empty()) continue;
                if (w == 0) other[0] = char(other[0] - 'a' + 'A');
                std::string broken = replace_word(sentence, w, other);
                ++flipped;
                INFO(sentence, " -> ", broken);
                CHECK_FALSE(is_valid_sentence(broken));
            }
        }
    }
    CHECK(flipped > 20000);
}

TEST_CASE("the corpus has long-range structure in a sizeable share of sentences") {
    std::vector<std::string> sentences = split_sentences(corpus());
    std::size_t subject_relative = 0;  // "that" among the first five words: the subject carries a relative clause
    std::size_t object_gap = 0;        // of those, "The cats that the dog sees ...": a noun between head and verb
    std::size_t numbers_differ = 0;    // of those, the nearer noun has the other number than the head noun
    std::size_t quotes = 0;
    std::size_t questions = 0;
    for (const std::string& sentence : sentences) {
        std::vector<std::string> words = words_of(sentence);
        quotes += sentence.find('"') != std::string::npos;
        questions += sentence.find('?') != std::string::npos;
        for (std::size_t w = 1; w < words.size() && w < 5; ++w) {
            if (words[w] != "that") continue;
            ++subject_relative;
            if (w + 2 < words.size() && contains(determiners, words[w + 1])) {
                ++object_gap;
                const std::string& head = words[w - 1];
                bool adjective = !contains(singular_nouns, words[w + 2]) && !contains(plural_nouns, words[w + 2]);
                const std::string& inner = words[adjective ? w + 3 : w + 2];  // after its determiner [adjective]
                numbers_differ += contains(plural_nouns, head) != contains(plural_nouns, inner);
            }
            break;
        }
    }
    double total = double(sentences.size());
    MESSAGE("subject relative clauses: ", subject_relative / total, ", of them with a noun in between: ",
            double(object_gap) / subject_relative, ", nouns of different number: ",
            double(numbers_differ) / object_gap, "; quotes: ", quotes / total, "; questions: ", questions / total);
    CHECK(subject_relative > 0.25 * total);
    CHECK(object_gap > 0.3 * subject_relative);
    CHECK(numbers_differ > 0.35 * object_gap);  // the nearest noun is a poor guide to the verb's number
    CHECK(quotes > 0.15 * total);
    CHECK(questions > 0.15 * total);
}

TEST_CASE("check_sentences splits text and counts the valid sentences") {
    SentenceReport r = check_sentences("The cat sleeps. The cats sleeps!\nDoes the dog run?  The queen said, "
                                       "\"The fox runs.\" The dog");
    CHECK(r.sentences == 4);  // the unfinished "The dog" is not counted
    CHECK(r.valid == 3);
    SentenceReport first_two = check_sentences("The cat sleeps. The cats sleeps! The dog runs.", 2);
    CHECK(first_two.sentences == 2);
    CHECK(first_two.valid == 1);
    SentenceReport none = check_sentences("");
    CHECK(none.sentences == 0);
    CHECK(none.valid == 0);
    CHECK(check_sentences("zzz. The cat sleeps.").valid == 1);
}

TEST_CASE("the labelled corpus: the same text, and every verb paired with the noun it agrees with") {
    const CorpusLabels labels = generate_labelled_corpus(200000, 1337);
    CHECK(labels.text == generate_corpus(200000, 1337));
    REQUIRE(labels.agreements.size() > 1000);
    auto word = [&](CorpusLabels::Span s) {
        std::string w = labels.text.substr(s.begin, s.end - s.begin);
        for (char& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return w;
    };
    auto numbers = [](const auto& list, const std::string& w) {
        unsigned n = 0;
        for (const auto& f : list) n |= grammar::number_of(f, w);
        return n;
    };
    std::size_t across_a_noun = 0, checked = 0, nearest_would_be_wrong = 0;
    for (const CorpusLabels::Agreement& a : labels.agreements) {
        const std::string verb = word(a.verb), noun = word(a.subject);
        INFO(verb << " <- " << noun);
        const unsigned noun_number = numbers(grammar::nouns, noun);
        REQUIRE(noun_number != 0);  // the subject is a noun
        unsigned verb_number = numbers(grammar::intransitive_verbs, verb) | numbers(grammar::transitive_verbs, verb) |
                               numbers(grammar::be_verbs, verb) | numbers(grammar::do_verbs, verb);
        for (const auto& s : grammar::speech_verbs) verb_number |= grammar::number_of(s.forms, verb);
        REQUIRE(verb_number != 0);  // the verb is a verb
        // they agree: a singular noun takes a singular (or past) form, a plural one a plural, past or bare form
        CHECK((verb_number & (noun_number == grammar::Sing ? unsigned(grammar::Sing) : unsigned(grammar::Plur | grammar::Base))) != 0);
        ++checked;
        // long-range pairs: another noun between the subject and its verb ("the cats that the dog sees sleep")
        const CorpusLabels::Span* nearest = nullptr;
        for (const CorpusLabels::Span& n : labels.nouns) {
            if (n.begin > a.subject.end && n.end < a.verb.begin) nearest = &n;
        }
        if (!nearest) continue;
        ++across_a_noun;
        // where the nearer noun has the other number and the verb is not a past form, the nearer noun would be
        // the wrong answer: the labels follow the grammar, not proximity
        const unsigned nearer = numbers(grammar::nouns, word(*nearest));
        const bool present = (verb_number & (grammar::Sing | grammar::Plur)) != (grammar::Sing | grammar::Plur);
        if (present && nearer != noun_number) ++nearest_would_be_wrong;
    }
    MESSAGE(checked << " verb-subject pairs, " << across_a_noun << " with another noun in between, "
                    << nearest_would_be_wrong << " where that nearer noun has the other number");
    CHECK(across_a_noun > checked / 20);
    CHECK(nearest_would_be_wrong > 100);
}

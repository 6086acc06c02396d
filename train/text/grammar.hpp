// The grammar of the built-in toy corpus (train/text/corpus.hpp): its words and its layout, shared by the
// generator that writes random sentences from it (corpus_generator.cpp) and the recursive-descent parser that
// checks a sentence against it (corpus_parser.cpp). Both are written rule by rule in the same order, so each rule
// below can be read three times: here, in SentenceWriter, and in Parser.
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
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace xgrad::grammar {

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
inline unsigned number_of(const Forms& f, std::string_view word) {
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

// Appends the tokens (lowercase words and punctuation) to out as English text, with the spaces and capitals
// described at the top of this file.
// With `offsets`: where each token starts in out.
void render(const std::vector<std::string_view>& tokens, std::string& out, std::vector<std::size_t>* offsets = nullptr);

// Splits a sentence into lowercase words and the punctuation tokens , . ! ? and ". Returns false on any other
// character (digits, tabs, newlines, non-ASCII...), which no sentence of the grammar contains.
bool tokenize(std::string_view text, std::vector<std::string>& tokens);

}  // namespace xgrad::grammar

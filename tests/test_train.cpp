// Tokenizer, data, checkpoints and the training loop.
#include "autograd/error.hpp"
#include "models/gpt.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/formats/safetensors.hpp"
#include "train/text/tokenizer.hpp"
#include "train/text/data.hpp"
#include "train/loop/train.hpp"
#include "tests/check_helpers.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/resource.h>

using namespace xgrad;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
    static const fs::path dir = [] {
        fs::path d = fs::temp_directory_path() / ("xgrad_test_train_" + std::to_string(::getpid()));
        fs::create_directories(d);
        return d;
    }();
    return dir;
}

void write_file(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

// A small, fast run on the built-in corpus.
TrainOptions small_run() {
    TrainOptions o;
    o.config = GPTConfig{0, 16, 16, 2, 1, 0.1};
    o.batch_size = 4, o.max_iters = 60, o.eval_interval = 20, o.eval_iters = 2, o.learning_rate = 3e-3;
    o.threads = 1, o.sample_tokens = 0;
    return o;
}

std::string eval_lines(const std::string& out) {
    std::istringstream in(out);
    std::string line, kept;
    while (std::getline(in, line)) {
        if (line.rfind("step ", 0) == 0) kept += line + "\n";
    }
    return kept;
}

}  // namespace

TEST_CASE("UTF-8: every code point kept, round trip, errors say where") {
    const std::string text = "\xEF\xBB\xBFna\xC3\xAFve\tcaf\xC3\xA9 \xF0\x9F\x90\x88\n\xEF\xBB\xBF!";  // BOMs, tab, é, a cat
    const std::u32string cps = decode_utf8(text, "t");
    CHECK(cps.size() == 16);
    CHECK(cps[0] == 0xFEFF);
    CHECK(encode_utf8(cps) == text);
    const Tokenizer tok = Tokenizer::from_text(cps);
    CHECK(tok.vocab_size() == 14);
    CHECK(tok.chars()[0] == U'\t');  // sorted by code point
    CHECK(tok.decode(tok.encode(cps)) == text);
    CHECK_THROWS_WITH_AS(decode_utf8("ab\ncd\xFF", "corpus.txt"),
                         doctest::Contains("corpus.txt: not valid UTF-8 at byte 5 (line 2, column 3): byte 0xFF"), Error);
    CHECK_THROWS_AS(decode_utf8("\xC0\xAF", "x"), Error);       // overlong
    CHECK_THROWS_AS(decode_utf8("\xED\xA0\x80", "x"), Error);   // surrogate
    CHECK_THROWS_AS(decode_utf8("\xE2\x82", "x"), Error);       // truncated
    CHECK_THROWS_WITH_AS(tok.encode(U"caf\u00e9!?", "--prompt"), doctest::Contains("--prompt: character '?' at position 5"),
                         Error);
}

TEST_CASE("data: the lecture's 90/10 split, batches shifted by one, short splits refused") {
    const std::u32string text = U"abcdefghijabcdefghij";  // 20 characters: 18 train, 2 val
    CHECK_THROWS_WITH_AS(prepare_data(text, 4, "t.txt"),
                         doctest::Contains("t.txt: the validation split has 2 characters, fewer than block_size + 1 = 5"),
                         Error);
    const TextData d = prepare_data(text, 1, "t.txt");
    CHECK(d.train_data.size() == 18);
    CHECK(d.val_data.size() == 2);
    Generator gen(1);
    auto [x, y] = get_batch(d.train_data, 8, 4, gen);
    CHECK(x.shape() == std::vector<std::size_t>{8, 4});
    for (std::size_t b = 0; b < 8; ++b) {
        for (std::size_t t = 0; t < 3; ++t) CHECK(y(b, t) == x(b, t + 1));
        CHECK((y(b, 3) - x(b, 3) == 1 || (x(b, 3) == 9 && y(b, 3) == 0)));
    }
}

TEST_CASE("read_text_file: missing, directory, empty, binary") {
    const fs::path d = temp_dir();
    CHECK_THROWS_WITH_AS(read_text_file((d / "nope.txt").string()), doctest::Contains("No such file"), Error);
    CHECK_THROWS_WITH_AS(read_text_file(d.string()), doctest::Contains("is a directory"), Error);
    write_file(d / "empty.txt", "");
    CHECK_THROWS_WITH_AS(read_text_file((d / "empty.txt").string()), doctest::Contains("is empty"), Error);
    write_file(d / "bin", std::string("ab\0cd", 5));
    CHECK_THROWS_WITH_AS(read_text_file((d / "bin").string()), doctest::Contains("looks binary"), Error);
}

TEST_CASE("checkpoint: save then load gives identical logits, config and vocabulary") {
    manual_seed(3);
    const GPTConfig config{6, 8, 16, 2, 2, 0.1};
    GPTLanguageModel model(config);
    const Tokenizer tok = Tokenizer::from_vocab(U"\t\n \u00e9ab");
    const std::string path = (temp_dir() / "ck.safetensors").string();
    save_checkpoint(model, "gpt", tok, "built-in", path);
    LoadedCheckpoint ck = load_checkpoint(path);
    CHECK(ck.model_type == "gpt");
    CHECK(ck.corpus == "built-in");
    CHECK(ck.tokenizer.chars() == tok.chars());
    CHECK(ck.model->config.n_layer == 2);
    CHECK(ck.model->config.dropout == doctest::Approx(0.1));
    model.eval();
    ck.model->eval();
    const Index idx = {{0, 1, 2, 3, 4, 5, 0, 1}};
    XGRAD_CHECK_CLOSE("logits", (*ck.model)(idx).logits.data(), model(idx).logits.data(), 0);
}

TEST_CASE("training: the loss falls, and a log is written") {
    TrainOptions o = small_run();
    o.log = (temp_dir() / "log.jsonl").string();
    std::ostringstream out;
    CHECK(train(o, out) == 0);
    const std::string text = out.str();
    INFO(text);
    CHECK(text.find(" M parameters") != std::string::npos);
    const std::string lines = eval_lines(text);
    CHECK(lines.rfind("step 0: train loss ", 0) == 0);
    // first and last train loss
    const double first = std::stod(lines.substr(lines.find("train loss ") + 11));
    const double last = std::stod(lines.substr(lines.rfind("train loss ") + 11));
    CHECK(last < first - 0.3);
    std::ifstream log(o.log);
    std::string line, last_line;
    int n = 0;
    while (std::getline(log, line)) ++n, last_line = line;
    CHECK(n == 5);  // steps 0, 20, 40, 59 and "done"
    CHECK(last_line.find("\"event\":\"done\"") != std::string::npos);
}

// The evaluations a JSON log holds, one "step: train val" line each (the
// timings differ from run to run; the losses must not).
std::string logged_steps(const std::string& path) {
    std::ifstream in(path);
    std::string out, line;
    while (std::getline(in, line)) {
        const nlohmann::json j = nlohmann::json::parse(line);
        if (!j.contains("step")) continue;
        out += std::to_string(j["step"].get<long long>()) + ": " + j["train_loss"].dump() + " " + j["val_loss"].dump() + "\n";
    }
    return out;
}

TEST_CASE("training is deterministic with --threads 1, and Ctrl-C then --resume continues the same run") {
    TrainOptions o = small_run();
    o.max_iters = 400, o.eval_interval = 50;
    o.out = (temp_dir() / "full.safetensors").string();
    o.log = (temp_dir() / "full.jsonl").string();
    std::ostringstream full;
    REQUIRE(train(o, full) == 0);
    const std::string full_log = logged_steps(o.log);
    CHECK(std::count(full_log.begin(), full_log.end(), '\n') == 9);  // steps 0, 50, ..., 350 and the last, 399

    // Interrupt a second, identical run, as Ctrl-C would, then resume it.
    o.out = (temp_dir() / "split.safetensors").string();
    o.log = (temp_dir() / "split.jsonl").string();
    std::ostringstream first;
    TrainOptions interrupted = o;
    interrupted.on_step = [](long long step, double) {
        if (step == 123) std::raise(SIGINT);  // as if Ctrl-C were pressed during step 123
    };
    const int rc = train(interrupted, first);
    REQUIRE(rc == 130);
    CHECK(first.str().find("interrupted after step 123") != std::string::npos);
    TrainOptions resumed = o;
    resumed.resume = o.out;
    std::ostringstream second;
    REQUIRE(train(resumed, second) == 0);
    CHECK(second.str().find("resuming " + o.out + " at step 124") != std::string::npos);
    CHECK(logged_steps(o.log) == full_log);  // the two halves' log is the uninterrupted run's

    LoadedCheckpoint a = load_checkpoint((temp_dir() / "full.safetensors").string());
    LoadedCheckpoint b = load_checkpoint(o.out);
    for (std::size_t i = 0; i < a.model->named_parameters().size(); ++i) {
        XGRAD_CHECK_CLOSE(a.model->named_parameters()[i].first, b.model->named_parameters()[i].second.data(),
                          a.model->named_parameters()[i].second.data(), 0);
    }

    // Killed during step 150, after its evaluation was logged: the resumed run
    // evaluates step 150 again, and the log still holds it once.
    o.out = (temp_dir() / "killed.safetensors").string();
    o.log = (temp_dir() / "killed.jsonl").string();
    TrainOptions killed = o;
    killed.on_step = [](long long step, double) {
        if (step == 150) throw std::runtime_error("killed");
    };
    std::ostringstream dying;
    CHECK_THROWS_AS(train(killed, dying), std::runtime_error);
    CHECK(logged_steps(o.log).find("150: ") != std::string::npos);
    resumed = o;
    resumed.resume = o.out;
    std::ostringstream after;
    REQUIRE(train(resumed, after) == 0);
    CHECK(after.str().find("at step 150") != std::string::npos);
    CHECK(logged_steps(o.log) == full_log);
}

TEST_CASE("--threads 2 runs the micro-batches side by side: --threads 1 --grad-accum 2's bits, and --threads 1's evaluations") {
    // One run's log and weights; dropout 0.1, so each half's masks count too.
    const auto options = [](int threads, int grad_accum, const char* name) {
        TrainOptions o = small_run();
        o.max_iters = 30, o.eval_interval = 10, o.eval_iters = 3;  // 3 batches: two side by side, then one alone
        o.threads = threads, o.grad_accum = grad_accum;
        o.out = (temp_dir() / (std::string(name) + ".safetensors")).string();
        o.log = (temp_dir() / (std::string(name) + ".jsonl")).string();
        return o;
    };
    const auto result = [](const TrainOptions& o) {
        std::ifstream in(o.out, std::ios::binary);
        return std::pair{logged_steps(o.log), std::string(std::istreambuf_iterator<char>(in), {})};
    };
    const auto run = [&](int threads, int grad_accum, const char* name) {
        const TrainOptions o = options(threads, grad_accum, name);
        std::ostringstream out;
        REQUIRE(train(o, out) == 0);
        return result(o);
    };
    const auto [two_threads_log, two_threads_weights] = run(2, 1, "two_threads");
    const auto [accum_log, accum_weights] = run(1, 2, "accum");
    const auto [one_thread_log, one_thread_weights] = run(1, 1, "one_thread");
    CHECK(two_threads_log == accum_log);          // every logged loss, unrounded
    CHECK(two_threads_weights == accum_weights);  // the checkpoint, byte for byte
    // two rounds of two micro-batches side by side are four in turn
    const auto [rounds_log, rounds_weights] = run(2, 2, "rounds");
    const auto [four_log, four_weights] = run(1, 4, "four");
    CHECK(rounds_log == four_log);
    CHECK(rounds_weights == four_weights);
    CHECK(rounds_weights != two_threads_weights);
    // Ctrl-C during step 17, then --resume on 2 threads: the uninterrupted run's log and bytes
    TrainOptions cut = options(2, 1, "cut");
    cut.on_step = [](long long step, double) {
        if (step == 17) std::raise(SIGINT);
    };
    std::ostringstream first, second;
    REQUIRE(train(cut, first) == 130);
    TrainOptions resumed = options(2, 1, "cut");
    resumed.resume = resumed.out;
    REQUIRE(train(resumed, second) == 0);
    CHECK(second.str().find("at step 18") != std::string::npos);
    CHECK(result(resumed) == std::pair{two_threads_log, two_threads_weights});
    CHECK(two_threads_weights != one_thread_weights);  // a batch in two halves does sum in another order
    // before the first step the weights are the same, so the evaluation, whose
    // batches run whole, one per thread, must be exactly one thread's
    const auto first_line = [](const std::string& log) { return log.substr(0, log.find('\n')); };
    CHECK(first_line(two_threads_log) == first_line(one_thread_log));
    CHECK(first_line(two_threads_log).rfind("0: ", 0) == 0);
}

TEST_CASE("a kill between the checkpoint's two writes leaves a run that resumes from the checkpoint's step") {
    TrainOptions o = small_run();
    o.max_iters = 60, o.eval_interval = 20;
    o.out = (temp_dir() / "pair.safetensors").string();
    std::ostringstream out;
    REQUIRE(train(o, out) == 0);  // checkpoint and state at step 60
    const std::string state = state_path(o.out), previous = previous_state_path(o.out);
    CHECK_FALSE(fs::exists(previous));  // it exists only while a save is under way
    // A state one step newer (61), from a copy of the run.
    TrainOptions copy = o;
    copy.resume = o.out, copy.out = (temp_dir() / "pair_copy.safetensors").string(), copy.max_iters = 61;
    REQUIRE(train(copy, out) == 0);
    const std::string newer_state = state_path(copy.out);

    auto resume_to = [&](long long max_iters) {
        TrainOptions r = o;
        r.resume = o.out, r.max_iters = max_iters;
        std::ostringstream s;
        const int rc = train(r, s);
        return std::pair{rc, s.str()};
    };
    // Killed after the state of step 61 was written, before its checkpoint:
    // .state is from 61, .state.prev (the checkpoint's) from 60.
    fs::rename(state, previous);
    fs::copy_file(newer_state, state);
    auto [rc, text] = resume_to(62);
    CHECK(rc == 0);
    CHECK(text.find("resuming " + o.out + " at step 60") != std::string::npos);
    CHECK_FALSE(fs::exists(previous));  // the resumed run's saves cleaned up
    // Killed after .state was moved aside, before the new one was written.
    fs::rename(state, previous);
    std::tie(rc, text) = resume_to(63);
    CHECK(rc == 0);
    CHECK(text.find("at step 62") != std::string::npos);
    // Neither file from the checkpoint's step (63): the error names both steps.
    fs::copy_file(newer_state, state, fs::copy_options::overwrite_existing);
    const std::string expected = "the checkpoint is from step 63 but " + state + " from step 61";
    CHECK_THROWS_WITH_AS(resume_to(64), doctest::Contains(expected.c_str()), Error);
}

TEST_CASE("every stage of the series trains on the built-in corpus: its loss falls") {
    for (const char* stage : {"bigram", "head", "multihead", "feedforward", "blocks", "layernorm", "gpt"}) {
        TrainOptions o = small_run();
        o.model = stage;
        o.config = GPTConfig{0, 8, 16, 2, 2, 0.1};
        o.max_iters = 80, o.eval_interval = 79, o.eval_iters = 4, o.batch_size = 8;
        o.learning_rate = std::string(stage) == "bigram" ? 1e-1 : 1e-2;
        std::ostringstream out;
        REQUIRE(train(o, out) == 0);
        const std::string lines = eval_lines(out.str());
        INFO(stage << "\n" << lines);
        const double first = std::stod(lines.substr(lines.find("train loss ") + 11));
        const double last = std::stod(lines.substr(lines.rfind("train loss ") + 11));
        CHECK(last < first - 0.5);
    }
}

TEST_CASE("every stage turns its dropout off in eval()") {
    for (const char* stage : {"head", "multihead", "feedforward", "blocks", "layernorm", "gpt"}) {
        INFO(stage);
        manual_seed(4);
        std::unique_ptr<LanguageModel> model = make_model(stage, GPTConfig{11, 8, 16, 2, 2, 0.5});
        const Index idx = {{1, 2, 3, 4, 5, 6, 7, 8}};
        model->eval();
        XGRAD_CHECK_CLOSE(stage, (*model)(idx).logits.data(), (*model)(idx).logits.data(), 0);
        model->train();
        CHECK(xt::amax(xt::abs((*model)(idx).logits.data() - (*model)(idx).logits.data()))() > 0);
    }
}

TEST_CASE("a small file cannot make the loader allocate a large model: every tensor is checked first") {
    // A metadata-only bigram checkpoint with a 20,000-character vocabulary: its
    // (V, V) table would be 1.6 GB. The loader must refuse it before building.
    std::u32string vocab;
    for (char32_t c = 0x4E00; c < 0x4E00 + 20000; ++c) vocab += c;
    namespace st = safetensors;
    st::File file;
    file.metadata["config"] = R"({"vocab_size":20000,"block_size":8,"n_embd":16,"n_head":2,"n_layer":0,"dropout":0.0})";
    file.metadata["vocab"] = encode_utf8(vocab);
    file.metadata["model"] = "bigram";
    const std::string path = (temp_dir() / "hollow.safetensors").string();
    st::save(file, path);
    CHECK(fs::file_size(path) < 100000);
    struct rusage before {}, after {};
    ::getrusage(RUSAGE_SELF, &before);
    CHECK_THROWS_WITH_AS(load_checkpoint(path), doctest::Contains("missing tensor 'token_embedding_table.weight'"), Error);
    ::getrusage(RUSAGE_SELF, &after);
    CHECK(after.ru_maxrss - before.ru_maxrss < 100 * 1024);  // KB: far below the table's 1.6 GB

    // and a tensor of the wrong shape is refused before the model is built, naming the shape the config needs
    Array small = xt::zeros<Scalar>({3, 3});
    file.tensors["token_embedding_table.weight"] = st::from_floats({3, 3}, small.data());
    st::save(file, path);
    CHECK_THROWS_WITH_AS(load_checkpoint(path), doctest::Contains("has shape (3,3) but the config needs (20000,20000)"),
                         Error);
}

TEST_CASE("the trainer's memory estimate and the loader count a model's weights with one function") {
    for (const char* type : {"gpt", "bigram", "head", "blocks", "blog"}) {
        INFO(type);
        const GPTConfig c{13, 8, 16, 2, 2, 0.0};
        const nn::NamedTensors hollow = expected_state(type, c);
        const std::unique_ptr<LanguageModel> real = make_model(type, c);
        CHECK(state_size(hollow) == state_size(real->state_dict()));
        REQUIRE(hollow.size() == real->state_dict().size());
        for (std::size_t i = 0; i < hollow.size(); ++i) {
            CHECK(hollow[i].first == real->state_dict()[i].first);
            CHECK(hollow[i].second.shape() == real->state_dict()[i].second.shape());
            CHECK(hollow[i].second.data().size() == 0);  // nothing allocated
        }
    }
}

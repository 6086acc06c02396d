// safetensors and batch files: round trips, a file laid out the way Python's
// safetensors writes it, every malformed input the reader must name, and the
// atomic save. Files are built byte by byte here so the tests need no Python.
#include <doctest/doctest.h>

#include "autograd/error.hpp"
#include "train/formats/batch_file.hpp"
#include "train/formats/safetensors.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace st = xgrad::safetensors;
namespace fs = std::filesystem;

namespace {

std::string le64(std::uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    return out;
}

// length prefix + header + data, as on disk
std::string make_file(const std::string& header, const std::string& data = "") {
    return le64(header.size()) + header + data;
}

// The Error message of f(), or "" if it did not throw. Other exceptions escape and fail the test.
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const xgrad::Error& e) {
        return e.what();
    }
    return "";
}

std::string parse_error(const std::string& bytes) {
    return error_of([&] { st::parse(bytes, "model.safetensors"); });
}

// A fresh directory under /tmp, removed with everything in it at scope exit.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "xgrad_st_XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() { fs::remove_all(path); }
    std::set<std::string> entries() const {
        std::set<std::string> out;
        for (const auto& e : fs::directory_iterator(path)) out.insert(e.path().filename().string());
        return out;
    }
};

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

st::File sample_file() {
    st::File f;
    f.metadata["format"] = "pt";
    f.metadata["note"] = "xgrad test";
    const float w[6] = {0.5f, -1.25f, 3.0f, 1e-20f, -0.0f, 65504.0f};
    f.tensors["lm_head.weight"] = st::from_floats({2, 3}, w);
    const std::int64_t idx[3] = {0, -7, 9007199254740993};  // 2^53 + 1: survives only as a true int64
    f.tensors["idx"] = st::from_int64s({3}, idx);
    st::TensorData i32{st::Dtype::I32, {2}, {0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x00, 0x00}};  // -1, 5
    f.tensors["small"] = i32;
    f.tensors["empty"] = st::from_floats({0, 4}, nullptr);
    return f;
}

// A valid F32 entry of 2 floats at the start of an 8-byte buffer; tests break one piece of it.
const std::string good_data(8, '\0');

}  // namespace

TEST_CASE("safetensors: round trip of F32, I64, I32 tensors with metadata") {
    st::File f = sample_file();
    std::string bytes = st::serialize(f);

    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    CHECK((8 + n) % 8 == 0);  // header padded so the data is 8-byte aligned
    CHECK(bytes.size() == 8 + n + 6 * 4 + 3 * 8 + 2 * 4);

    st::File g = st::parse(bytes, "rt");
    CHECK(g.metadata == f.metadata);
    REQUIRE(g.tensors.size() == 4);
    for (const auto& entry : f.tensors) {
        const std::string& name = entry.first;  // not a structured binding: clang 14 cannot capture one
        const st::TensorData& t = entry.second;
        CAPTURE(name);
        const st::TensorData& u = g.tensors.at(name);
        CHECK(u.dtype == t.dtype);
        CHECK(u.shape == t.shape);
        CHECK(u.bytes == t.bytes);
    }
    std::vector<float> w = st::to_floats(g.tensors.at("lm_head.weight"), "lm_head.weight");
    CHECK(w == std::vector<float>{0.5f, -1.25f, 3.0f, 1e-20f, -0.0f, 65504.0f});
    CHECK(std::signbit(w[4]));
    CHECK(st::to_int64s(g.tensors.at("idx"), "idx") == std::vector<std::int64_t>{0, -7, 9007199254740993});
    CHECK(st::to_int64s(g.tensors.at("small"), "small") == std::vector<std::int64_t>{-1, 5});
    CHECK(g.tensors.at("empty").numel() == 0);
    CHECK(st::to_floats(g.tensors.at("empty"), "empty").empty());

    // Serializing what we read gives the same bytes: the writer is deterministic.
    CHECK(st::serialize(g) == bytes);
}

TEST_CASE("safetensors: reads a file laid out like Python's safetensors writes it") {
    // safetensors.torch.save_file({"bias": torch.tensor([1.5, -2.0]), "idx": torch.tensor([[7, -1]])},
    //                             metadata={"format": "pt"})
    // Python puts __metadata__ first, orders data by alignment (I64 before F32), writes
    // compact JSON and pads the header with spaces to a multiple of 8.
    std::string header =
        R"({"__metadata__":{"format":"pt"},"idx":{"dtype":"I64","shape":[1,2],"data_offsets":[0,16]},)"
        R"("bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})";
    header.append((8 - header.size() % 8) % 8, ' ');
    const unsigned char data[] = {
        0x07, 0, 0, 0, 0, 0, 0, 0,                           // idx[0][0] = 7
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,      // idx[0][1] = -1
        0x00, 0x00, 0xc0, 0x3f,                              // bias[0] = 1.5f  (0x3fc00000)
        0x00, 0x00, 0x00, 0xc0,                              // bias[1] = -2.0f (0xc0000000)
    };
    std::string bytes = make_file(header, std::string(reinterpret_cast<const char*>(data), sizeof data));

    st::File f = st::parse(bytes, "python.safetensors");
    CHECK(f.metadata == std::map<std::string, std::string>{{"format", "pt"}});
    REQUIRE(f.tensors.count("idx") == 1);
    REQUIRE(f.tensors.count("bias") == 1);
    CHECK(f.tensors.at("idx").shape == std::vector<std::int64_t>{1, 2});
    CHECK(st::to_int64s(f.tensors.at("idx"), "idx") == std::vector<std::int64_t>{7, -1});
    CHECK(st::to_floats(f.tensors.at("bias"), "bias") == std::vector<float>{1.5f, -2.0f});
}

TEST_CASE("safetensors: dtype conversions and their errors") {
    const double d[3] = {0.25, -1e300, 1e300};
    st::TensorData f64{st::Dtype::F64, {3}, std::vector<unsigned char>(24)};
    std::memcpy(f64.bytes.data(), d, 24);  // this test host is little-endian, like every file
    std::vector<float> v = st::to_floats(f64, "w");
    CHECK(v[0] == 0.25f);
    CHECK(std::isinf(v[1]));
    CHECK(v[1] < 0);
    CHECK(std::isinf(v[2]));

    const std::int64_t ids[2] = {1, 2};
    std::string msg = error_of([&] { st::to_floats(st::from_int64s({2}, ids), "blocks.0.ln1.weight"); });
    CHECK(msg.find("'blocks.0.ln1.weight'") != std::string::npos);
    CHECK(msg.find("I64") != std::string::npos);

    const float w[1] = {1.0f};
    msg = error_of([&] { st::to_int64s(st::from_floats({1}, w), "x"); });
    CHECK(msg.find("'x'") != std::string::npos);
    CHECK(msg.find("F32") != std::string::npos);

    // A hand-built tensor whose bytes disagree with its shape.
    st::TensorData bad{st::Dtype::F32, {2}, std::vector<unsigned char>(4)};
    CHECK(error_of([&] { st::to_floats(bad, "bad"); }).find("needs 8") != std::string::npos);
    CHECK(error_of([&] { st::from_floats({-1}, w); }).find("negative") != std::string::npos);
}

TEST_CASE("safetensors: serialize refuses inconsistent tensors") {
    st::File f;
    f.tensors["w"] = st::TensorData{st::Dtype::F32, {2, 2}, std::vector<unsigned char>(12)};
    CHECK(error_of([&] { st::serialize(f); }).find("tensor 'w': holds 12 bytes") != std::string::npos);

    st::File g;
    g.tensors["__metadata__"] = st::TensorData{st::Dtype::F32, {0}, {}};
    CHECK(error_of([&] { st::serialize(g); }).find("__metadata__") != std::string::npos);

    st::File h;
    h.metadata["bad"] = std::string("\xff\xfe", 2);
    CHECK(error_of([&] { st::serialize(h); }).find("UTF-8") != std::string::npos);
}

TEST_CASE("safetensors: every malformed input names what is wrong") {
    auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
        return R"({"dtype":)" + dtype + R"(,"shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
    };
    auto one = [&](const std::string& body) { return "{\"w\":" + body + "}"; };

    struct Case {
        const char* what;
        std::string bytes;
        std::vector<std::string> expected;  // substrings of the message
    };
    const std::vector<Case> cases = {
        {"empty file", "", {"0 bytes", "too short"}},
        {"7 bytes", std::string(7, '\0'), {"7 bytes", "too short"}},
        {"absurd header length", le64(1ULL << 62) + "{}", {"absurd"}},
        {"header length past the end", le64(1000) + "{}", {"header length 1000", "past the end", "2 bytes"}},
        {"header not JSON", make_file("{\"w\": "), {"not valid JSON"}},
        {"empty header", make_file(""), {"not valid JSON"}},
        {"invalid UTF-8 in header", make_file("{\"\xff\":1}"), {"not valid JSON"}},
        {"comment in header", make_file("{} // hi"), {"not valid JSON"}},
        {"header a list", make_file("[1, 2]"), {"header is a list", "expected a JSON object"}},
        {"header a number", make_file("42"), {"header is 42"}},
        {"deep nesting", make_file(std::string(100000, '[') + std::string(100000, ']')), {"nests deeper"}},
        {"metadata a list", make_file(R"({"__metadata__":[1]})"), {"__metadata__ is a list"}},
        {"metadata value a number", make_file(R"({"__metadata__":{"k":1}})"), {"__metadata__ value for 'k' is 1"}},
        {"entry not an object", make_file(R"({"w":5})"), {"tensor 'w': entry is 5, expected an object"}},
        {"missing dtype", make_file(one(R"({"shape":[2],"data_offsets":[0,8]})")), {"tensor 'w'", "missing \"dtype\""}},
        {"missing shape", make_file(one(R"({"dtype":"F32","data_offsets":[0,8]})")), {"missing \"shape\""}},
        {"missing data_offsets", make_file(one(R"({"dtype":"F32","shape":[2]})")), {"missing \"data_offsets\""}},
        {"dtype a number", make_file(one(entry("4", "[2]", "[0,8]")), good_data), {"dtype is 4"}},
        {"unknown dtype", make_file(one(entry("\"BF16\"", "[2]", "[0,8]")), good_data), {"unknown dtype 'BF16'"}},
        {"lowercase dtype", make_file(one(entry("\"f32\"", "[2]", "[0,8]")), good_data), {"unknown dtype 'f32'"}},
        {"shape a number", make_file(one(entry("\"F32\"", "2", "[0,8]")), good_data), {"shape is 2, expected a list"}},
        {"negative dim", make_file(one(entry("\"F32\"", "[-2]", "[0,8]")), good_data), {"shape entry 0 is -2"}},
        {"float dim", make_file(one(entry("\"F32\"", "[1,2.0]", "[0,8]")), good_data), {"shape entry 1 is 2.0"}},
        {"string dim", make_file(one(entry("\"F32\"", "[\"2\"]", "[0,8]")), good_data), {"shape entry 0 is \"2\""}},
        {"dim above int64", make_file(one(entry("\"F32\"", "[18446744073709551615]", "[0,8]")), good_data),
         {"shape entry 0 is 18446744073709551615"}},
        {"dim above uint64", make_file(one(entry("\"F32\"", "[99999999999999999999999]", "[0,8]")), good_data),
         {"shape entry 0", "non-negative integer"}},
        {"numel overflow", make_file(one(entry("\"F32\"", "[4294967296,4294967296]", "[0,8]")), good_data),
         {"too many elements"}},
        {"bytes overflow", make_file(one(entry("\"F64\"", "[2305843009213693952]", "[0,8]")), good_data),
         {"too many elements"}},
        {"offsets a string", make_file(one(entry("\"F32\"", "[2]", "\"0-8\"")), good_data),
         {"data_offsets is \"0-8\"", "two integers"}},
        {"three offsets", make_file(one(entry("\"F32\"", "[2]", "[0,4,8]")), good_data),
         {"data_offsets is a list of 3"}},
        {"negative offset", make_file(one(entry("\"F32\"", "[2]", "[-8,0]")), good_data),
         {"data_offsets entry 0 is -8"}},
        {"float offset", make_file(one(entry("\"F32\"", "[2]", "[0,8.5]")), good_data),
         {"data_offsets entry 1 is 8.5"}},
        {"huge offset", make_file(one(entry("\"F32\"", "[2]", "[0,18446744073709551615]")), good_data),
         {"end beyond the data (8 bytes)"}},
        {"begin after end", make_file(one(entry("\"F32\"", "[0]", "[8,4]")), good_data), {"[8, 4] begin after end"}},
        {"end beyond the data",
         make_file(R"({"lm_head.weight":{"dtype":"F32","shape":[25],"data_offsets":[0,100]}})", std::string(64, '\0')),
         {"model.safetensors: tensor 'lm_head.weight': data_offsets [0, 100] end beyond the data (64 bytes)"}},
        {"size mismatch", make_file(one(entry("\"F32\"", "[2,3]", "[0,20]")), std::string(20, '\0')),
         {"[0, 20] hold 20 bytes", "F32 shape [2, 3] needs 24"}},
        {"overlap",
         make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                   R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                   std::string(24, '\0')),
         {"tensors 'a' [0, 16] and 'b' [8, 24] overlap"}},
        {"same bytes twice",
         make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                   good_data),
         {"overlap"}},
        {"duplicate tensor name",
         make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("w":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})",
                   good_data),
         {"repeats a key"}},
        {"repeated field in an entry",
         make_file(R"({"w":{"dtype":"I32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", good_data),
         {"repeats a key"}},
        {"newline in a name", make_file("{\"a\\nb\":5}"), {"tensor 'a\\x0ab'"}},
    };
    for (const Case& c : cases) {
        CAPTURE(c.what);
        std::string msg = parse_error(c.bytes);
        CAPTURE(msg);
        REQUIRE(!msg.empty());
        CHECK(msg.rfind("model.safetensors: ", 0) == 0);  // every message starts with the origin
        CHECK(msg.find('\n') == std::string::npos);       // and is one line
        for (const std::string& e : c.expected) CHECK(msg.find(e) != std::string::npos);
    }
}

TEST_CASE("safetensors: accepted corner cases") {
    // Padding with spaces, an empty header, zero-size tensors sharing an offset.
    CHECK(st::parse(make_file("{}      "), "x").tensors.empty());
    st::File f = st::parse(
        make_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("c":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})",
                  std::string(16, '\x01')),
        "x");
    CHECK(f.tensors.at("a").numel() == 0);
    CHECK(f.tensors.at("c").numel() == 1);  // a scalar has shape [] and one element
    CHECK(st::to_int64s(f.tensors.at("c"), "c") == std::vector<std::int64_t>{0x0101010101010101});
    // Colons and escaped quotes inside strings are not key separators for the repeated-key check.
    st::File g = st::parse(make_file(R"({"__metadata__":{"a:b":"c:\":d","e":"\\"},"x:y":)"
                                     R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                     good_data),
                           "x");
    CHECK(g.metadata.at("a:b") == "c:\":d");
    CHECK(g.metadata.at("e") == "\\");
    CHECK(g.tensors.count("x:y") == 1);
    // A zero dim makes a huge shape empty rather than overflowing.
    CHECK(st::parse(make_file(R"({"z":{"dtype":"F64","shape":[0,9223372036854775807],"data_offsets":[0,0]}})"), "x")
              .tensors.at("z")
              .numel() == 0);
}

TEST_CASE("safetensors: truncation at every byte raises Error, and corrupted bytes never crash") {
    std::string bytes = st::serialize(sample_file());
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        CAPTURE(n);
        CHECK_THROWS_AS(st::parse(std::string_view(bytes).substr(0, n), "cut.safetensors"), xgrad::Error);
    }
    // Each byte replaced by a few values: either a valid file or an Error, nothing else.
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        for (char c : {'\0', '\xff', '9', '-', '"', '[', '}'}) {
            std::string b = bytes;
            b[i] = c;
            try {
                st::parse(b, "bad.safetensors");
            } catch (const xgrad::Error&) {
            }
        }
    }
}

TEST_CASE("safetensors: load names the path") {
    TempDir dir;
    std::string missing = (dir.path / "nope.safetensors").string();
    std::string msg = error_of([&] { st::load(missing); });
    CHECK(msg.find(missing + ": cannot open") != std::string::npos);
    CHECK(msg.find("No such file") != std::string::npos);

    msg = error_of([&] { st::load(dir.path.string()); });
    CHECK(msg.find("is a directory") != std::string::npos);

    std::string garbage = (dir.path / "garbage.safetensors").string();
    std::ofstream(garbage) << "not a safetensors file at all";
    msg = error_of([&] { st::load(garbage); });
    CHECK(msg.rfind(garbage + ": ", 0) == 0);

    if (::geteuid() != 0) {  // root reads anything, so the permission check only means something for users
        fs::permissions(garbage, fs::perms::none);
        CHECK(error_of([&] { st::load(garbage); }).find("Permission denied") != std::string::npos);
    }
}

TEST_CASE("safetensors: save and load round trip through a file") {
    TempDir dir;
    std::string path = (dir.path / "model.safetensors").string();
    st::File f = sample_file();
    st::save(f, path);
    CHECK(read_all(path) == st::serialize(f));
    st::File g = st::load(path);
    CHECK(g.metadata == f.metadata);
    CHECK(g.tensors.at("lm_head.weight").bytes == f.tensors.at("lm_head.weight").bytes);
    CHECK(dir.entries() == std::set<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors: save replaces an existing file and leaves no temp files") {
    TempDir dir;
    std::string path = (dir.path / "ckpt.safetensors").string();
    std::ofstream(path) << "old contents, much longer than nothing, to be sure they are replaced entirely";
    st::File f;
    f.metadata["step"] = "100";
    st::save(f, path);
    CHECK(st::load(path).metadata.at("step") == "100");
    CHECK(read_all(path) == st::serialize(f));
    CHECK(dir.entries() == std::set<std::string>{"ckpt.safetensors"});
}

TEST_CASE("safetensors: save failures throw, name the path and leave nothing behind") {
    TempDir dir;
    // Missing directory: the temp file cannot even be created.
    std::string path = (dir.path / "no_such_dir" / "model.safetensors").string();
    std::string msg = error_of([&] { st::save(sample_file(), path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("No such file") != std::string::npos);
    CHECK(!fs::exists(path));
    CHECK(dir.entries().empty());

    // The target is a directory: the temp file is written, the rename fails, the temp file goes.
    fs::create_directory(dir.path / "taken");
    std::string taken = (dir.path / "taken").string();
    msg = error_of([&] { st::save(sample_file(), taken); });
    CHECK(msg.find(taken + ": cannot rename") != std::string::npos);
    CHECK(dir.entries() == std::set<std::string>{"taken"});
    CHECK(fs::is_empty(dir.path / "taken"));

    if (::geteuid() != 0) {
        fs::create_directory(dir.path / "readonly");
        fs::permissions(dir.path / "readonly", fs::perms::owner_read | fs::perms::owner_exec);
        std::string ro = (dir.path / "readonly" / "m.safetensors").string();
        CHECK(error_of([&] { st::save(sample_file(), ro); }).find("Permission denied") != std::string::npos);
        CHECK(fs::is_empty(dir.path / "readonly"));
        fs::permissions(dir.path / "readonly", fs::perms::owner_all);
    }
}

TEST_CASE("safetensors: write_file_atomic writes exactly the bytes") {
    TempDir dir;
    std::string path = (dir.path / "log.txt").string();
    std::string contents("a\0b\nc", 5);
    st::write_file_atomic(path, contents);
    CHECK(read_all(path) == contents);
    st::write_file_atomic(path, "");
    CHECK(read_all(path).empty());
    CHECK(dir.entries() == std::set<std::string>{"log.txt"});
}

namespace {

std::string batch_bytes(st::TensorData x, st::TensorData y) {
    st::File f;
    f.tensors["x"] = std::move(x);
    f.tensors["y"] = std::move(y);
    return st::serialize(f);
}

std::string batch_error(const std::string& bytes, std::size_t vocab_size = 65, std::size_t block_size = 8) {
    return error_of([&] {
        xgrad::Batch b = xgrad::parse_batch(bytes, "batch.safetensors");
        xgrad::check_batch(b, vocab_size, block_size, "batch.safetensors");
    });
}

}  // namespace

TEST_CASE("batch file: a valid (B, T) batch, I64 or I32") {
    const std::int64_t x[6] = {1, 2, 3, 4, 5, 6}, y[6] = {2, 3, 4, 5, 6, 64};
    xgrad::Batch b = xgrad::parse_batch(batch_bytes(st::from_int64s({2, 3}, x), st::from_int64s({2, 3}, y)), "b");
    CHECK(b.B == 2);
    CHECK(b.T == 3);
    CHECK(b.x == std::vector<std::int64_t>(x, x + 6));
    CHECK(b.y == std::vector<std::int64_t>(y, y + 6));
    CHECK_NOTHROW(xgrad::check_batch(b, 65, 3, "b"));

    st::TensorData x32{st::Dtype::I32, {1, 2}, {1, 0, 0, 0, 2, 0, 0, 0}};
    st::TensorData y32{st::Dtype::I32, {1, 2}, {2, 0, 0, 0, 3, 0, 0, 0}};
    xgrad::Batch c = xgrad::parse_batch(batch_bytes(x32, y32), "b");
    CHECK(c.x == std::vector<std::int64_t>{1, 2});
    CHECK(c.y == std::vector<std::int64_t>{2, 3});

    TempDir dir;
    std::string path = (dir.path / "batch.safetensors").string();
    st::write_file_atomic(path, batch_bytes(x32, y32));
    CHECK(xgrad::load_batch(path).y == std::vector<std::int64_t>{2, 3});
    CHECK(error_of([&] { xgrad::load_batch(path + ".missing"); }).find(path + ".missing: cannot open") !=
          std::string::npos);
}

TEST_CASE("batch file: errors name the file, the tensor, the position and the value") {
    const std::int64_t ok[6] = {0, 1, 2, 3, 4, 5};
    const std::int64_t big[6] = {0, 1, 2, 3, 4, 65};
    const std::int64_t neg[6] = {0, -3, 2, 3, 4, 5};
    const float fl[6] = {0, 1, 2, 3, 4, 5};
    auto i64 = [](std::vector<std::int64_t> shape, const std::int64_t* d) { return st::from_int64s(shape, d); };

    struct Case {
        const char* what;
        std::string message;
        std::vector<std::string> expected;
    };
    const std::vector<Case> cases = {
        {"out of vocab", batch_error(batch_bytes(i64({2, 3}, ok), i64({2, 3}, big))),
         {"tensor 'y'", "(1, 2)", "token 65", "[0, 65)"}},
        {"negative token", batch_error(batch_bytes(i64({2, 3}, neg), i64({2, 3}, ok))),
         {"tensor 'x'", "(0, 1)", "token -3"}},
        {"T > block_size", batch_error(batch_bytes(i64({2, 3}, ok), i64({2, 3}, ok)), 65, 2),
         {"T = 3", "block_size 2"}},
        {"shape mismatch", batch_error(batch_bytes(i64({2, 3}, ok), i64({3, 2}, ok))),
         {"'x' (2,3)", "'y' (3,2)", "differ"}},
        {"float dtype", batch_error(batch_bytes(st::from_floats({2, 3}, fl), i64({2, 3}, ok))),
         {"tensor 'x' has dtype F32", "I64 or I32"}},
        {"rank 1", batch_error(batch_bytes(i64({6}, ok), i64({6}, ok))), {"shape (6)", "expected (B, T)"}},
        {"empty batch", batch_error(batch_bytes(i64({0, 3}, ok), i64({0, 3}, ok))), {"at least 1"}},
        {"no y", batch_error([&] {
             st::File f;
             f.tensors["x"] = i64({2, 3}, ok);
             return st::serialize(f);
         }()),
         {"no tensor 'y'"}},
        {"not safetensors", batch_error("garbage"), {"too short"}},
    };
    for (const Case& c : cases) {
        CAPTURE(c.what);
        CAPTURE(c.message);
        CHECK(c.message.rfind("batch.safetensors: ", 0) == 0);
        for (const std::string& e : c.expected) CHECK(c.message.find(e) != std::string::npos);
    }

    // A hand-built batch whose sizes disagree with B and T.
    xgrad::Batch bad;
    bad.B = 2;
    bad.T = 2;
    bad.x = {1, 2, 3};
    bad.y = {1, 2, 3, 4};
    CHECK(error_of([&] { xgrad::check_batch(bad, 65, 8, "hand"); }).find("expected B * T") != std::string::npos);
}

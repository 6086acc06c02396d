// The safetensors reader. It checks, in order: the length prefix, the JSON
// header, every entry (dtype, shape, data_offsets against the buffer), then
// overlaps, and copies tensor bytes only after all of that, so the bytes
// copied never exceed the file's size. It is fuzzed (fuzz/fuzz_safetensors.cpp).
#include "train/formats/safetensors.hpp"

#include "autograd/error.hpp"
#include "train/formats/safetensors_detail.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>

namespace xgrad::safetensors {

using json = nlohmann::json;
using namespace detail;

namespace {

// Python's safetensors refuses headers over 100 MB; so do we. Real headers are
// about 100 bytes per tensor.
constexpr std::uint64_t max_header_bytes = 100'000'000;
// A real header nests 3 deep (header, entry, shape). nlohmann spends tens of
// bytes per level, so 100 MB of '[' would cost gigabytes: refuse it up front.
constexpr int max_header_depth = 32;

// A JSON value for a message: scalars as written (cut short), containers by kind.
std::string describe(const json& v) {
    if (v.is_object()) return "an object";
    if (v.is_array()) return "a list";
    std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
    if (s.size() > max_quoted_chars) s = s.substr(0, max_quoted_chars) + "...";
    return s;
}

std::string format_offsets(std::uint64_t begin, std::uint64_t end) {
    return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// JSON integers reach us as int64 (negative, and "-0"), uint64 (non-negative)
// or double (fractions, exponents, anything beyond 2^64): accept only the
// non-negative integers.
std::optional<std::uint64_t> as_count(const json& v) {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
    return std::nullopt;
}

std::optional<Dtype> dtype_from_name(const std::string& s) {
    if (s == "F32") return Dtype::F32;
    if (s == "F64") return Dtype::F64;
    if (s == "I32") return Dtype::I32;
    if (s == "I64") return Dtype::I64;
    return std::nullopt;
}

// One pass over the header text, outside strings, before nlohmann sees it.
struct HeaderScan {
    bool too_deep = false;
    std::uint64_t colons = 0;  // in valid JSON, one per key: value pair, duplicates included
};

// Counting brackets and colons outside strings is enough: anything this
// miscounts is invalid JSON, which nlohmann then refuses.
HeaderScan scan_header(std::string_view s) {
    HeaderScan scan;
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (in_string) {
            if (c == '\\') ++i;  // skip the escaped character, which may be '"'
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_header_depth) {
                scan.too_deep = true;
                return scan;
            }
        } else if (c == ']' || c == '}') {
            --depth;
        } else if (c == ':') {
            ++scan.colons;
        }
    }
    return scan;
}

// Key: value pairs nlohmann kept; fewer than the colons means a repeated key.
// Recursion is bounded by max_header_depth.
std::uint64_t count_members(const json& v) {
    std::uint64_t n = v.is_object() ? v.size() : 0;
    if (v.is_structured()) {
        for (const json& child : v) n += count_members(child);
    }
    return n;
}

std::uint64_t read_u64_le(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

// One header entry, checked, before its bytes are copied.
struct Entry {
    std::string name;
    TensorData tensor;  // bytes still empty
    std::uint64_t begin = 0, end = 0;
};

Entry read_entry(const std::string& origin, const std::string& name, const json& v, std::uint64_t data_size) {
    std::string where = "tensor " + quote(name) + ": ";
    if (!v.is_object()) fail(origin, where + "entry is " + describe(v) + ", expected an object");

    auto field = [&](const char* key) -> const json& {
        auto it = v.find(key);
        if (it == v.end()) fail(origin, where + "missing \"" + key + "\"");
        return *it;
    };

    Entry e;
    e.name = name;

    const json& dtype = field("dtype");
    if (!dtype.is_string()) fail(origin, where + "dtype is " + describe(dtype) + ", expected a string");
    auto known = dtype_from_name(dtype.get_ref<const std::string&>());
    if (!known) {
        fail(origin, where + "unknown dtype " + quote(dtype.get_ref<const std::string&>()) +
                         " (xgrad reads F32, F64, I32, I64)");
    }
    e.tensor.dtype = *known;

    const json& shape = field("shape");
    if (!shape.is_array()) fail(origin, where + "shape is " + describe(shape) + ", expected a list");
    for (std::size_t i = 0; i < shape.size(); ++i) {
        auto d = as_count(shape[i]);
        if (!d || *d > static_cast<std::uint64_t>(INT64_MAX)) {
            fail(origin, where + "shape entry " + std::to_string(i) + " is " + describe(shape[i]) +
                             ", expected a non-negative integer");
        }
        e.tensor.shape.push_back(static_cast<std::int64_t>(*d));
    }
    auto nbytes = checked_nbytes(e.tensor.shape, dtype_size(e.tensor.dtype));
    if (!nbytes) fail(origin, where + "shape " + format_shape(e.tensor.shape) + " has too many elements (overflow)");

    const json& offsets = field("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2) {
        fail(origin, where + "data_offsets is " + describe(offsets) +
                         (offsets.is_array() ? " of " + std::to_string(offsets.size()) : std::string()) +
                         ", expected a list of two integers");
    }
    for (std::size_t i = 0; i < 2; ++i) {
        if (!as_count(offsets[i])) {
            fail(origin, where + "data_offsets entry " + std::to_string(i) + " is " + describe(offsets[i]) +
                             ", expected a non-negative integer");
        }
    }
    e.begin = *as_count(offsets[0]);
    e.end = *as_count(offsets[1]);
    std::string offs = "data_offsets " + format_offsets(e.begin, e.end);
    if (e.begin > e.end) fail(origin, where + offs + " begin after end");
    if (e.end > data_size) {
        fail(origin, where + offs + " end beyond the data (" + std::to_string(data_size) + " bytes)");
    }
    if (e.end - e.begin != *nbytes) {
        fail(origin, where + offs + " hold " + std::to_string(e.end - e.begin) + " bytes, but dtype " +
                         dtype_name(e.tensor.dtype) + " shape " + format_shape(e.tensor.shape) + " needs " +
                         std::to_string(*nbytes));
    }
    return e;
}

std::map<std::string, std::string> read_metadata(const std::string& origin, const json& v) {
    if (!v.is_object()) fail(origin, "__metadata__ is " + describe(v) + ", expected an object of strings");
    std::map<std::string, std::string> out;
    for (auto it = v.begin(); it != v.end(); ++it) {
        if (!it.value().is_string()) {
            fail(origin, "__metadata__ value for " + quote(it.key()) + " is " + describe(it.value()) +
                             ", expected a string");
        }
        out[it.key()] = it.value().get<std::string>();
    }
    return out;
}

// Two tensors sharing bytes would let a small file expand into a huge one.
// Empty tensors own no bytes and overlap nothing.
void check_no_overlap(const std::string& origin, std::vector<const Entry*> entries) {
    entries.erase(std::remove_if(entries.begin(), entries.end(), [](const Entry* e) { return e->begin == e->end; }),
                  entries.end());
    std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    const Entry* furthest = nullptr;  // the entry reaching furthest so far
    for (const Entry* e : entries) {
        if (furthest && e->begin < furthest->end) {
            fail(origin, "tensors " + quote(furthest->name) + " " + format_offsets(furthest->begin, furthest->end) +
                             " and " + quote(e->name) + " " + format_offsets(e->begin, e->end) + " overlap");
        }
        if (!furthest || e->end > furthest->end) furthest = e;
    }
}

}  // namespace

File parse(std::string_view bytes, const std::string& origin) {
    if (bytes.size() < 8) {
        fail(origin, "file is " + std::to_string(bytes.size()) + " bytes, too short for the 8-byte header length");
    }
    std::uint64_t header_size = read_u64_le(reinterpret_cast<const unsigned char*>(bytes.data()));
    if (header_size > max_header_bytes) {
        fail(origin, "header length " + std::to_string(header_size) +
                         " is absurd (over 100 MB); is this a safetensors file?");
    }
    if (header_size > bytes.size() - 8) {
        fail(origin, "header length " + std::to_string(header_size) + " runs past the end of the file (" +
                         std::to_string(bytes.size() - 8) + " bytes follow the length)");
    }
    std::string_view header_text = bytes.substr(8, header_size);
    std::string_view data = bytes.substr(8 + header_size);

    HeaderScan scan = scan_header(header_text);
    if (scan.too_deep) fail(origin, "header nests deeper than " + std::to_string(max_header_depth) + " levels");
    json header = json::parse(header_text.begin(), header_text.end(), nullptr, /*allow_exceptions=*/false);
    if (header.is_discarded()) {
        fail(origin, "header (" + std::to_string(header_size) + " bytes) is not valid JSON");
    }
    if (!header.is_object()) fail(origin, "header is " + describe(header) + ", expected a JSON object");
    // nlohmann keeps the last of repeated keys; refuse the file rather than
    // silently lose a tensor. (Its parse callback could name the key, but it
    // rescans the parent object at every "}", quadratic in the tensor count.)
    if (count_members(header) != scan.colons) fail(origin, "header repeats a key (a tensor or field appears twice)");

    File file;
    std::vector<Entry> entries;
    entries.reserve(header.size());
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == "__metadata__") {
            file.metadata = read_metadata(origin, it.value());
        } else {
            entries.push_back(read_entry(origin, it.key(), it.value(), data.size()));
        }
    }
    std::vector<const Entry*> views;
    for (const Entry& e : entries) views.push_back(&e);
    check_no_overlap(origin, views);

    for (Entry& e : entries) {
        const auto* p = reinterpret_cast<const unsigned char*>(data.data());
        e.tensor.bytes.assign(p + e.begin, p + e.end);
        file.tensors.emplace(std::move(e.name), std::move(e.tensor));
    }
    return file;
}

}  // namespace xgrad::safetensors

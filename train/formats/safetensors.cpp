// safetensors reader and writer. The reader checks, in order: the length
// prefix, the JSON header, every entry (dtype, shape, data_offsets against the
// buffer), then overlaps, and copies tensor bytes only after all of that, so the
// bytes copied never exceed the file's size.
#include "train/formats/safetensors.hpp"

#include "autograd/error.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <system_error>

namespace xgrad::safetensors {

using json = nlohmann::json;

namespace {

// Python's safetensors refuses headers over 100 MB; so do we. Real headers are
// about 100 bytes per tensor.
constexpr std::uint64_t max_header_bytes = 100'000'000;
// A real header nests 3 deep (header, entry, shape). nlohmann spends tens of
// bytes per level, so 100 MB of '[' would cost gigabytes: refuse it up front.
constexpr int max_header_depth = 32;
// Names in messages are cut here, so a hostile 1 MB name cannot flood the terminal.
constexpr std::size_t max_quoted_chars = 80;

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
    throw Error(origin + ": " + what);
}

// 'name' with control bytes escaped and long names cut, so every message stays one line.
std::string quote(std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "'";
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i == max_quoted_chars) {
            out += "...";
            break;
        }
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f || c == '\\') {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "'";
}

// A JSON value for a message: scalars as written (cut short), containers by kind.
std::string describe(const json& v) {
    if (v.is_object()) return "an object";
    if (v.is_array()) return "a list";
    std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
    if (s.size() > max_quoted_chars) s = s.substr(0, max_quoted_chars) + "...";
    return s;
}

std::string format_shape(const std::vector<std::int64_t>& shape) {
    std::string out = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i == 8) {
            out += ", ... (" + std::to_string(shape.size()) + " dims)";
            break;
        }
        if (i) out += ", ";
        out += std::to_string(shape[i]);
    }
    return out + "]";
}

std::string format_offsets(std::uint64_t begin, std::uint64_t end) {
    return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Product of the dims times elem_size; nullopt on a negative dim or overflow.
std::optional<std::uint64_t> checked_nbytes(const std::vector<std::int64_t>& shape, std::uint64_t elem_size) {
    std::uint64_t n = elem_size;
    for (std::int64_t d : shape) {
        if (d < 0) return std::nullopt;
        if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n)) return std::nullopt;
    }
    return n;
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

void append_u64_le(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// Little-endian loads and stores spelled byte by byte: correct on any host,
// and compiled to a plain move on x86 and ARM.
template <typename U>
U load_le(const unsigned char* p) {
    U v = 0;
    for (int i = static_cast<int>(sizeof(U)) - 1; i >= 0; --i) v = static_cast<U>((v << 8) | p[i]);
    return v;
}

template <typename U>
void store_le(unsigned char* p, U v) {
    for (std::size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<unsigned char>((v >> (8 * i)) & 0xff);
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

std::string serialize_to(const File& file, const std::string& origin) {
    json header = json::object();
    if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
    std::uint64_t offset = 0;
    for (const auto& [name, t] : file.tensors) {
        if (name == "__metadata__") fail(origin, "a tensor cannot be named '__metadata__'");
        auto nbytes = checked_nbytes(t.shape, dtype_size(t.dtype));
        if (!nbytes) fail(origin, "tensor " + quote(name) + ": bad shape " + format_shape(t.shape));
        if (*nbytes != t.bytes.size()) {
            fail(origin, "tensor " + quote(name) + ": holds " + std::to_string(t.bytes.size()) + " bytes, but dtype " +
                             dtype_name(t.dtype) + " shape " + format_shape(t.shape) + " needs " +
                             std::to_string(*nbytes));
        }
        header[name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + *nbytes}}};
        offset += *nbytes;
    }
    std::string text;
    try {
        text = header.dump();
    } catch (const json::exception&) {
        fail(origin, "a tensor name or metadata string is not valid UTF-8");
    }
    // Python's writer pads so the data starts 8-byte aligned; readers may then map it in place.
    text.append((8 - text.size() % 8) % 8, ' ');

    std::string out;
    out.reserve(8 + text.size() + offset);
    append_u64_le(out, text.size());
    out += text;
    for (const auto& [name, t] : file.tensors) out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
    return out;
}

std::string errno_text(int err) { return std::system_category().message(err); }

// Closes a file descriptor on every path out, including throws.
struct FdCloser {
    int fd;
    ~FdCloser() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

const char* dtype_name(Dtype dtype) {
    switch (dtype) {
        case Dtype::F32: return "F32";
        case Dtype::F64: return "F64";
        case Dtype::I32: return "I32";
        case Dtype::I64: return "I64";
    }
    return "?";
}

std::size_t dtype_size(Dtype dtype) {
    switch (dtype) {
        case Dtype::F32: return 4;
        case Dtype::F64: return 8;
        case Dtype::I32: return 4;
        case Dtype::I64: return 8;
    }
    return 0;
}

std::size_t TensorData::numel() const {
    auto n = checked_nbytes(shape, 1);
    if (!n) throw Error("tensor shape " + format_shape(shape) + ": negative dimension or too many elements");
    return *n;
}

TensorData from_floats(std::vector<std::int64_t> shape, const float* data) {
    TensorData t{Dtype::F32, std::move(shape), {}};
    std::size_t n = t.numel();
    t.bytes.resize(n * 4);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t u;
        std::memcpy(&u, &data[i], 4);
        store_le(&t.bytes[i * 4], u);
    }
    return t;
}

TensorData from_int64s(std::vector<std::int64_t> shape, const std::int64_t* data) {
    TensorData t{Dtype::I64, std::move(shape), {}};
    std::size_t n = t.numel();
    t.bytes.resize(n * 8);
    for (std::size_t i = 0; i < n; ++i) store_le(&t.bytes[i * 8], static_cast<std::uint64_t>(data[i]));
    return t;
}

namespace {

// A hand-built TensorData may disagree with itself; a parsed one never does.
std::size_t checked_numel(const TensorData& t, const std::string& name) {
    std::size_t n = t.numel();
    if (t.bytes.size() != n * dtype_size(t.dtype)) {
        throw Error("tensor " + quote(name) + ": holds " + std::to_string(t.bytes.size()) + " bytes, but dtype " +
                    dtype_name(t.dtype) + " shape " + format_shape(t.shape) + " needs " +
                    std::to_string(n * dtype_size(t.dtype)));
    }
    return n;
}

}  // namespace

std::vector<float> to_floats(const TensorData& t, const std::string& name) {
    if (t.dtype != Dtype::F32 && t.dtype != Dtype::F64) {
        throw Error("tensor " + quote(name) + ": dtype " + dtype_name(t.dtype) + ", expected F32 (or F64)");
    }
    std::size_t n = checked_numel(t, name);
    std::vector<float> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (t.dtype == Dtype::F32) {
            std::uint32_t u = load_le<std::uint32_t>(&t.bytes[i * 4]);
            std::memcpy(&out[i], &u, 4);
        } else {
            std::uint64_t u = load_le<std::uint64_t>(&t.bytes[i * 8]);
            double d;
            std::memcpy(&d, &u, 8);
            // Out of float's range the cast is undefined behaviour; saturate to inf as IEEE rounding would.
            out[i] = std::fabs(d) > std::numeric_limits<float>::max() && std::isfinite(d)
                         ? (d > 0 ? 1.0f : -1.0f) * std::numeric_limits<float>::infinity()
                         : static_cast<float>(d);
        }
    }
    return out;
}

std::vector<std::int64_t> to_int64s(const TensorData& t, const std::string& name) {
    if (t.dtype != Dtype::I64 && t.dtype != Dtype::I32) {
        throw Error("tensor " + quote(name) + ": dtype " + dtype_name(t.dtype) + ", expected I64 or I32");
    }
    std::size_t n = checked_numel(t, name);
    std::vector<std::int64_t> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (t.dtype == Dtype::I64) {
            out[i] = static_cast<std::int64_t>(load_le<std::uint64_t>(&t.bytes[i * 8]));
        } else {
            out[i] = static_cast<std::int32_t>(load_le<std::uint32_t>(&t.bytes[i * 4]));
        }
    }
    return out;
}

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

File load(const std::string& path) {
    // POSIX calls rather than ifstream: ifstream "opens" a directory and then
    // fails silently, and gives no errno to explain a failure.
    FdCloser f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) throw Error(path + ": cannot open: " + errno_text(errno));
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) throw Error(path + ": cannot stat: " + errno_text(errno));
    if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory, expected a safetensors file");
    // A pipe or /dev/zero has no size to trust and may never end.
    if (!S_ISREG(st.st_mode)) throw Error(path + ": is not a regular file");

    std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n = ::read(f.fd, &bytes[got], bytes.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(path + ": cannot read: " + errno_text(errno));
        if (n == 0) break;  // the file shrank under us; parse() judges what is left
        got += static_cast<std::size_t>(n);
    }
    bytes.resize(got);
    return parse(bytes, path);
}

std::string serialize(const File& file) { return serialize_to(file, "safetensors serialize"); }

void save(const File& file, const std::string& path) { write_file_atomic(path, serialize_to(file, path)); }

void write_file_atomic(const std::string& path, std::string_view contents) {
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    // O_NOFOLLOW: never write through a symlink someone left at the temp name.
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) throw Error(path + ": cannot create " + tmp + ": " + errno_text(errno));

    auto give_up = [&](const std::string& what, int err) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw Error(path + ": " + what + ": " + errno_text(err));
    };
    std::size_t done = 0;
    while (done < contents.size()) {
        ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) give_up("cannot write " + tmp, errno);
        done += static_cast<std::size_t>(n);
    }
    // Without fsync a crash after rename can leave an empty file under the old name.
    if (::fsync(fd) != 0) give_up("cannot fsync " + tmp, errno);
    int closed = ::close(fd);
    fd = -1;
    if (closed != 0) give_up("cannot close " + tmp, errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0) give_up("cannot rename " + tmp + " over it", errno);

    // Make the rename itself durable. Best effort: some filesystems refuse to fsync a directory.
    std::string::size_type slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    FdCloser d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d.fd >= 0) ::fsync(d.fd);
}

}  // namespace xgrad::safetensors

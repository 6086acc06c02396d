// The safetensors format's dtypes and conversions, the file I/O and the
// writer (safetensors.hpp); the reader of the header and its checks is
// safetensors_parse.cpp.
#include "train/formats/safetensors.hpp"

#include "autograd/error.hpp"
#include "train/formats/safetensors_detail.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <system_error>

namespace xgrad::safetensors {

using json = nlohmann::json;

namespace detail {

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
    throw Error(origin + ": " + what);
}

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

// A shape as the file's JSON header writes it, "[2, 3]", for the errors about
// the header itself (the rest of xgrad prints shapes as shape_str's "(2,3)").
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

std::optional<std::uint64_t> checked_nbytes(const std::vector<std::int64_t>& shape, std::uint64_t elem_size) {
    std::uint64_t n = elem_size;
    for (std::int64_t d : shape) {
        if (d < 0) return std::nullopt;
        if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n)) return std::nullopt;
    }
    return n;
}

}  // namespace detail

using namespace detail;

namespace {

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

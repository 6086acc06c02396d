// The text helpers of the pictures: see markup.hpp.
#include "train/pictures/markup.hpp"

#include "autograd/error.hpp"
#include "train/text/tokenizer.hpp"

#include <cstdio>

namespace xgrad::pictures {

std::string xml_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string printable(std::string_view bytes) {
    std::u32string chars;
    try {
        chars = decode_utf8(bytes, "");
    } catch (const Error&) {
        chars.clear();
        for (unsigned char c : bytes) chars += c < 0x80 ? char32_t(c) : U'?';
    }
    for (char32_t& c : chars) {
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) c = U'?';
    }
    return encode_utf8(chars);
}

std::string basename_of(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}
std::string num(double v) { return fmt("%.1f", v); }  // an SVG coordinate

}  // namespace xgrad::pictures

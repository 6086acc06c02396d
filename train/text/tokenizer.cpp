// UTF-8 and the character-level tokenizer (tokenizer.hpp).
#include "train/text/tokenizer.hpp"

#include "autograd/error.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

namespace xgrad {

std::u32string decode_utf8(std::string_view bytes, const std::string& origin) {
    std::u32string out;
    out.reserve(bytes.size());
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < bytes.size();) {
        const auto b0 = static_cast<unsigned char>(bytes[i]);
        // the sequence length and the smallest code point it may encode (to reject overlong forms)
        std::size_t len = 0;
        char32_t cp = 0, min = 0;
        if (b0 < 0x80) {
            len = 1, cp = b0;
        } else if ((b0 & 0xE0) == 0xC0) {
            len = 2, cp = b0 & 0x1F, min = 0x80;
        } else if ((b0 & 0xF0) == 0xE0) {
            len = 3, cp = b0 & 0x0F, min = 0x800;
        } else if ((b0 & 0xF8) == 0xF0) {
            len = 4, cp = b0 & 0x07, min = 0x10000;
        }
        bool ok = len > 0 && i + len <= bytes.size();
        for (std::size_t k = 1; ok && k < len; ++k) {
            const auto b = static_cast<unsigned char>(bytes[i + k]);
            ok = (b & 0xC0) == 0x80;
            cp = (cp << 6) | (b & 0x3F);
        }
        ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (!ok) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", b0);
            throw Error(origin + ": not valid UTF-8 at byte " + std::to_string(i) + " (line " + std::to_string(line) +
                        ", column " + std::to_string(column) + "): byte " + hex +
                        "; xgrad reads text as UTF-8 (convert it, e.g. with iconv)");
        }
        out.push_back(cp);
        i += len;
        if (cp == U'\n') {
            ++line, column = 1;
        } else {
            ++column;
        }
    }
    return out;
}

std::string encode_utf8(std::u32string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char32_t c : text) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (c < 0x800) {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out += static_cast<char>(0xE0 | (c >> 12));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (c >> 18));
            out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

std::string describe_char(char32_t c) {
    if (c >= 0x21 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c));
    return buf;
}

Tokenizer Tokenizer::from_text(std::u32string_view text) {
    const std::set<char32_t> unique(text.begin(), text.end());  // sorted(list(set(text)))
    return from_vocab(std::u32string(unique.begin(), unique.end()));
}

Tokenizer Tokenizer::from_vocab(std::u32string_view chars) {
    Tokenizer tok;
    tok.itos_ = std::u32string(chars);
    for (std::size_t i = 0; i < chars.size(); ++i) {
        if (!tok.stoi_.emplace(chars[i], static_cast<std::int64_t>(i)).second) {
            throw Error("vocabulary: character " + describe_char(chars[i]) + " appears twice");
        }
    }
    return tok;
}

std::vector<std::int64_t> Tokenizer::encode(std::u32string_view text, const std::string& origin) const {
    std::vector<std::int64_t> ids;
    ids.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto it = stoi_.find(text[i]);
        if (it == stoi_.end()) {
            std::string known;  // what the model knows, as a learner would type it
            for (const char32_t c : itos_) known += c == U'\n' ? "\\n" : c == U'\t' ? "\\t" : encode_utf8(std::u32string(1, c));
            if (known.size() > 200) known = known.substr(0, 200) + "...";
            throw Error(origin + ": character " + describe_char(text[i]) + " at position " + std::to_string(i) +
                        " is not in the model's vocabulary of " + std::to_string(itos_.size()) + " characters: " + known);
        }
        ids.push_back(it->second);
    }
    return ids;
}

std::string Tokenizer::decode(const std::vector<std::int64_t>& ids) const {
    std::u32string text;
    text.reserve(ids.size());
    for (std::int64_t id : ids) {
        if (id < 0 || static_cast<std::size_t>(id) >= itos_.size()) {
            throw Error("decode: token " + std::to_string(id) + " out of range for a vocabulary of " +
                        std::to_string(itos_.size()));
        }
        text.push_back(itos_[static_cast<std::size_t>(id)]);
    }
    return encode_utf8(text);
}

}  // namespace xgrad

// What the two halves of the safetensors code share (safetensors.cpp: the
// dtypes, conversions and the writer; safetensors_parse.cpp: the reader of
// hostile files): errors that start with the origin, and names and shapes
// written for messages. Internal to train/formats/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xgrad::safetensors::detail {

// Names in messages are cut here, so a hostile 1 MB name cannot flood the terminal.
constexpr std::size_t max_quoted_chars = 80;

[[noreturn]] void fail(const std::string& origin, const std::string& what);

// 'name' with control bytes escaped and long names cut, so every message stays one line.
std::string quote(std::string_view s);

// [2, 3], cut after 8 dims.
std::string format_shape(const std::vector<std::int64_t>& shape);

// Product of the dims times elem_size; nullopt on a negative dim or overflow.
std::optional<std::uint64_t> checked_nbytes(const std::vector<std::int64_t>& shape, std::uint64_t elem_size);

}  // namespace xgrad::safetensors::detail

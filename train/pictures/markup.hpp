// What the three pictures share (train/pictures/attention.cpp, loss_plot.cpp
// and graph.cpp): text made safe for XML and for one-line messages, the file
// names they show, numbers written for SVG, and the fonts.
#pragma once

#include <string>
#include <string_view>

namespace xgrad::pictures {

// The five characters XML reserves (& < > " ') as entities.
std::string xml_escape(std::string_view s);

// Bytes from outside (a file name, a line of a log) as printable UTF-8: bad
// UTF-8 and control characters become '?', so neither an XML page nor a
// one-line error message can be broken by them.
std::string printable(std::string_view bytes);

// The last component of a path: "runs/tiny.jsonl" -> "tiny.jsonl".
std::string basename_of(const std::string& path);

// printf-style number formatting, independent of the locale's decimal point.
std::string fmt(const char* format, double v);
std::string num(double v);  // an SVG coordinate: one decimal

inline constexpr const char* kFontSans = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Helvetica, Arial, sans-serif";
inline constexpr const char* kFontMono = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace";

}  // namespace xgrad::pictures

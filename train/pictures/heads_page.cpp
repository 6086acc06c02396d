// The page of `xgrad heads --html` (heads_page.hpp).
#include "train/pictures/heads_page.hpp"

#include "train/pictures/attention.hpp"
#include "train/pictures/markup.hpp"

#include <cmath>
#include <sstream>

namespace xgrad {

using namespace pictures;

namespace {

std::string cell(double v, const char* format = "%.3f") { return std::isnan(v) ? "&#8211;" : fmt(format, v); }

}  // namespace

std::string heads_html(const analysis::HeadsReport& r, const std::string& checkpoint, const std::u32string& first_window) {
    std::ostringstream page;
    page << "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
         << "<title>What each head does: " << xml_escape(printable(basename_of(checkpoint))) << "</title>\n"
         << "<style>" << attention_page_style()
         << "table { border-collapse: collapse; margin: 1em 0; } td, th { padding: 0.2em 0.6em; text-align: right; "
            "border-bottom: 1px solid #ddd; } th { background: #f4f4f4; } td.name { text-align: left; font-family: "
            "monospace; }</style>\n</head>\n<body>\n";
    page << "<h1>What each attention head does</h1>\n<p class=\"meta\">" << xml_escape(printable(checkpoint)) << ": "
         << r.heads.size() << " heads, " << r.windows << " windows of " << r.block_size << " characters, loss "
         << fmt("%.4f", r.base_loss) << " with every head on.</p>\n";
    page << "<table>\n<tr><th>layer</th><th>head</th><th>name</th><th>previous</th><th>first</th><th>self</th>"
            "<th>distance</th><th>entropy</th><th>word start</th><th>ablation</th><th>importance</th>"
            "<th>induction</th><th>role</th></tr>\n";
    for (const analysis::HeadScores& h : r.heads) {
        page << "<tr><td>" << h.layer << "</td><td>" << h.head << "</td><td class=\"name\">" << xml_escape(h.name)
             << "</td><td>" << cell(h.previous_token) << "</td><td>" << cell(h.first_token) << "</td><td>"
             << cell(h.self) << "</td><td>" << cell(h.mean_distance, "%.2f") << "</td><td>" << cell(h.entropy)
             << "</td><td>" << cell(h.word_start) << "</td><td>" << cell(h.ablation, "%+.4f") << "</td><td>"
             << cell(h.importance, "%.4f") << "</td><td>" << cell(h.induction) << "</td><td class=\"name\">"
             << xml_escape(h.role) << "</td></tr>\n";
    }
    const analysis::HeadScores& u = r.uniform;
    page << "<tr><td></td><td></td><td class=\"name\">uniform attention</td><td>" << cell(u.previous_token)
         << "</td><td>" << cell(u.first_token) << "</td><td>" << cell(u.self) << "</td><td>"
         << cell(u.mean_distance, "%.2f") << "</td><td>" << cell(u.entropy) << "</td><td>" << cell(u.word_start)
         << "</td><td></td><td></td><td>" << cell(u.induction) << "</td><td></td></tr>\n</table>\n";
    page << "<p class=\"meta\">" << xml_escape(analysis::role_rules()) << ".</p>\n";

    page << "<h2>Similarity <span class=\"meta\">(mean Jensen-Shannon divergence of the heads' rows, in bits: 0 the "
            "same, 1 disjoint)</span></h2>\n<table>\n<tr><th></th>";
    for (const auto& h : r.heads) page << "<th>" << h.layer << "." << h.head << "</th>";
    page << "</tr>\n";
    for (std::size_t a = 0; a < r.heads.size(); ++a) {
        page << "<tr><th>" << r.heads[a].layer << "." << r.heads[a].head << "</th>";
        for (double v : r.similarity[a]) page << "<td>" << fmt("%.3f", v) << "</td>";
        page << "</tr>\n";
    }
    page << "</table>\n<h2>Each head on the first window</h2>\n<div class=\"heads\">\n";
    for (std::size_t k = 0; k < r.heads.size(); ++k) {
        page << heatmap_svg({r.heads[k].layer, r.heads[k].head, r.attention[k][0]}, first_window);
    }
    page << "</div>\n<footer>Written by <code>xgrad heads</code>.</footer>\n</body>\n</html>\n";
    return page.str();
}

}  // namespace xgrad

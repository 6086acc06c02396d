// `xgrad plot`: train and val loss against step, as an SVG, from the --log
// files of xgrad train; one colour per run, train solid, val dashed. Plain
// text written by hand, self-contained, saved atomically.
#include "train/pictures/loss_plot.hpp"

#include "autograd/error.hpp"
#include "train/formats/safetensors.hpp"
#include "train/pictures/markup.hpp"
#include "train/text/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/stat.h>

namespace xgrad {

using namespace pictures;

namespace {

struct Run {
    std::string path;
    std::vector<double> step, train, val;
};

// A line of a log quoted in an error: short, on one line, printable.
std::string excerpt(const std::string& line) {
    if (line.size() <= 60) return "'" + printable(line) + "'";
    std::size_t n = 60;
    while (n > 0 && (static_cast<unsigned char>(line[n]) & 0xC0) == 0x80) --n;  // cut between characters
    return "'" + printable(line.substr(0, n)) + "...'";
}

// The evaluation lines of a --log file, {"step", "train_loss", "val_loss", ...};
// lines with an "event" (the summary) are skipped.
Run read_log(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw Error(path + ": cannot open the log: " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory, not a log file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the log: " + std::strerror(errno));

    Run run;
    run.path = path;
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank
        const std::string where = path + ":" + std::to_string(n) + ": ";
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) throw Error(where + "not a JSON line: " + excerpt(line));
        if (!j.is_object()) throw Error(where + "expected a JSON object, got " + excerpt(line));
        if (j.contains("event")) continue;  // {"event":"done",...}
        double v[3];
        const char* keys[3] = {"step", "train_loss", "val_loss"};
        for (int k = 0; k < 3; ++k) {
            const auto it = j.find(keys[k]);
            if (it == j.end() || !it->is_number() || !std::isfinite(it->get<double>())) {
                throw Error(where + "an evaluation line needs the numbers \"step\", \"train_loss\" and \"val_loss\"; \"" +
                            keys[k] + "\" is " + (it == j.end() ? "missing" : "not a finite number"));
            }
            v[k] = it->get<double>();
        }
        run.step.push_back(v[0]), run.train.push_back(v[1]), run.val.push_back(v[2]);
    }
    if (in.bad()) throw Error(path + ": cannot read the log: " + std::strerror(errno));
    if (run.step.empty()) {
        throw Error(path + ": no evaluation lines (xgrad train --log writes one every --eval-interval steps when "
                           "--eval-iters is above 0)");
    }
    return run;
}

// Round tick spacing (1, 2 or 5 times a power of ten) giving about `target` ticks over `span`.
double nice_step(double span, int target) {
    const double raw = span / target;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

struct Axis {
    double lo, hi, step;
};
Axis nice_axis(double lo, double hi, int target, bool integers) {
    if (!(hi - lo > 1e-12)) {
        const double pad = integers ? 1.0 : std::max(std::abs(hi) * 0.1, 0.1);
        lo -= integers ? 0 : pad, hi += pad;
    }
    double step = nice_step(hi - lo, target);
    if (integers) step = std::max(step, 1.0);
    return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step};
}

std::string tick_label(double v, double step) {
    const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
    std::string s = fmt(("%." + std::to_string(decimals) + "f").c_str(), v);
    return s == "-0" ? "0" : s;
}

// Tableau's ten colours: distinct, and fine for most colour-blind readers.
const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Legend names: the file names, or the whole paths when two share a name.
std::vector<std::string> legend_names(const std::vector<Run>& runs) {
    std::vector<std::string> names;
    std::map<std::string, int> uses;
    for (const Run& r : runs) ++uses[basename_of(r.path)];
    for (const Run& r : runs) names.push_back(printable(uses[basename_of(r.path)] > 1 ? r.path : basename_of(r.path)));
    return names;
}

// The picture's size, the plot area inside it, and the axes: X(step) and
// Y(loss) are the pixels of a point.
struct Frame {
    Axis xa, ya;
    int W = 760, H = 460;
    double x0 = 72, x1 = W - 24, y0 = 44, y1 = H - 58;  // the plot area
    double X(double s) const { return x0 + (s - xa.lo) / (xa.hi - xa.lo) * (x1 - x0); }
    double Y(double l) const { return y1 - (l - ya.lo) / (ya.hi - ya.lo) * (y1 - y0); }
};

// Axes from step 0 (or the first step logged) to the last, and over every loss of every run.
Frame frame_for(const std::vector<Run>& runs) {
    double smin = INFINITY, smax = -INFINITY, lmin = INFINITY, lmax = -INFINITY;
    for (const Run& r : runs) {
        for (std::size_t i = 0; i < r.step.size(); ++i) {
            smin = std::min(smin, r.step[i]), smax = std::max(smax, r.step[i]);
            lmin = std::min({lmin, r.train[i], r.val[i]}), lmax = std::max({lmax, r.train[i], r.val[i]});
        }
    }
    return Frame{nice_axis(std::min(smin, 0.0), smax, 6, true), nice_axis(lmin, lmax, 6, false)};
}

// The title, the grid with its ticks and tick labels, the box and the axis captions.
void draw_axes(std::ostream& s, const Frame& f) {
    s << "<title>train and val loss against step</title>\n";
    s << "<rect width=\"" << f.W << "\" height=\"" << f.H << "\" fill=\"#fff\"/>\n";
    s << "<text x=\"" << f.x0 << "\" y=\"26\" font-size=\"16\" font-weight=\"bold\" fill=\"#222\">Loss during training</text>\n";

    // grid, ticks and tick labels
    s << "<g font-size=\"12\" fill=\"#444\">\n";
    for (double v = f.ya.lo; v <= f.ya.hi + f.ya.step * 1e-6; v += f.ya.step) {
        const std::string y = num(f.Y(v));
        s << "<line x1=\"" << f.x0 << "\" y1=\"" << y << "\" x2=\"" << f.x1 << "\" y2=\"" << y << "\" stroke=\"#e6e6e6\"/>"
          << "<line x1=\"" << f.x0 - 5 << "\" y1=\"" << y << "\" x2=\"" << f.x0 << "\" y2=\"" << y << "\" stroke=\"#444\"/>"
          << "<text x=\"" << f.x0 - 8 << "\" y=\"" << y << "\" dy=\"0.35em\" text-anchor=\"end\">" << tick_label(v, f.ya.step)
          << "</text>\n";
    }
    for (double v = f.xa.lo; v <= f.xa.hi + f.xa.step * 1e-6; v += f.xa.step) {
        const std::string x = num(f.X(v));
        s << "<line x1=\"" << x << "\" y1=\"" << f.y0 << "\" x2=\"" << x << "\" y2=\"" << f.y1 << "\" stroke=\"#e6e6e6\"/>"
          << "<line x1=\"" << x << "\" y1=\"" << f.y1 << "\" x2=\"" << x << "\" y2=\"" << f.y1 + 5 << "\" stroke=\"#444\"/>"
          << "<text x=\"" << x << "\" y=\"" << f.y1 + 19 << "\" text-anchor=\"middle\">" << tick_label(v, f.xa.step)
          << "</text>\n";
    }
    s << "</g>\n";
    s << "<rect x=\"" << f.x0 << "\" y=\"" << f.y0 << "\" width=\"" << f.x1 - f.x0 << "\" height=\"" << f.y1 - f.y0
      << "\" fill=\"none\" stroke=\"#444\"/>\n";
    s << "<text x=\"" << (f.x0 + f.x1) / 2 << "\" y=\"" << f.H - 16 << "\" font-size=\"13\" text-anchor=\"middle\" fill=\"#222\">step</text>\n";
    s << "<text transform=\"translate(20," << (f.y0 + f.y1) / 2
      << ") rotate(-90)\" font-size=\"13\" text-anchor=\"middle\" fill=\"#222\">loss (cross-entropy)</text>\n";
}

// The curves: train solid, val dashed, one colour per run; a marker on each
// evaluation while there are few enough to tell apart.
void draw_curves(std::ostream& s, const Frame& f, const std::vector<Run>& runs, const std::vector<std::string>& names) {
    std::size_t most_points = 0;
    for (const Run& r : runs) most_points = std::max(most_points, r.step.size());
    const bool markers = most_points <= 60;
    for (std::size_t r = 0; r < runs.size(); ++r) {
        const char* colour = kPalette[r % 10];
        for (int split = 0; split < 2; ++split) {
            const std::vector<double>& loss = split == 0 ? runs[r].train : runs[r].val;
            s << "<g><title>" << xml_escape(names[r]) << (split == 0 ? ": train loss" : ": val loss") << "</title>\n";
            s << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" stroke-linejoin=\"round\""
              << (split == 1 ? " stroke-dasharray=\"7 4\"" : "") << " points=\"";
            for (std::size_t i = 0; i < loss.size(); ++i) s << (i ? " " : "") << num(f.X(runs[r].step[i])) << "," << num(f.Y(loss[i]));
            s << "\"/>\n";
            if (markers) {
                for (std::size_t i = 0; i < loss.size(); ++i) {
                    s << "<circle cx=\"" << num(f.X(runs[r].step[i])) << "\" cy=\"" << num(f.Y(loss[i])) << "\" r=\"3\" fill=\""
                      << (split == 0 ? colour : "#fff") << "\" stroke=\"" << colour << "\" stroke-width=\"1.5\"><title>step "
                      << fmt("%.0f", runs[r].step[i]) << ": " << (split == 0 ? "train" : "val") << " " << fmt("%.4f", loss[i])
                      << "</title></circle>";
                }
                s << "\n";
            }
            s << "</g>\n";
        }
    }
}

// The legend, top right, where falling curves leave room: a row per run with
// its last val loss, and a row saying which line is which split.
void draw_legend(std::ostream& s, const Frame& f, const std::vector<Run>& runs, const std::vector<std::string>& names) {
    std::vector<std::string> rows;
    std::size_t widest = 10;
    for (std::size_t r = 0; r < runs.size(); ++r) {
        rows.push_back(names[r] + "  (val " + fmt("%.3f", runs[r].val.back()) + ")");
        widest = std::max(widest, decode_utf8(rows.back(), "").size());
    }
    const double row_h = 18, lw = 48 + 6.8 * static_cast<double>(widest), lh = row_h * static_cast<double>(rows.size() + 1) + 12;
    const double lx = f.x1 - lw - 10, ly = f.y0 + 10;
    s << "<g font-size=\"12\" fill=\"#222\">\n<rect x=\"" << num(lx) << "\" y=\"" << num(ly) << "\" width=\"" << num(lw)
      << "\" height=\"" << num(lh) << "\" rx=\"4\" fill=\"#fff\" fill-opacity=\"0.9\" stroke=\"#ccc\"/>\n";
    for (std::size_t r = 0; r <= rows.size(); ++r) {
        const double y = ly + 6 + row_h * (static_cast<double>(r) + 0.5);
        if (r < rows.size()) {
            s << "<line x1=\"" << num(lx + 10) << "\" y1=\"" << num(y) << "\" x2=\"" << num(lx + 38) << "\" y2=\"" << num(y)
              << "\" stroke=\"" << kPalette[r % 10] << "\" stroke-width=\"3\"/><text x=\"" << num(lx + 46) << "\" y=\""
              << num(y) << "\" dy=\"0.35em\">" << xml_escape(rows[r]) << "</text>\n";
        } else {  // which line is which split
            s << "<line x1=\"" << num(lx + 10) << "\" y1=\"" << num(y) << "\" x2=\"" << num(lx + 38) << "\" y2=\"" << num(y)
              << "\" stroke=\"#555\" stroke-width=\"2\"/><text x=\"" << num(lx + 46) << "\" y=\"" << num(y)
              << "\" dy=\"0.35em\" fill=\"#555\">train</text>"
              << "<line x1=\"" << num(lx + 96) << "\" y1=\"" << num(y) << "\" x2=\"" << num(lx + 124) << "\" y2=\"" << num(y)
              << "\" stroke=\"#555\" stroke-width=\"2\" stroke-dasharray=\"7 4\"/><text x=\"" << num(lx + 132) << "\" y=\""
              << num(y) << "\" dy=\"0.35em\" fill=\"#555\">val</text>\n";
        }
    }
    s << "</g>\n";
}

}  // namespace

void plot_losses(const std::vector<std::string>& logs, const std::string& out_path) {
    if (logs.empty()) throw Error("plot: give at least one --log file");
    std::vector<Run> runs;
    for (const std::string& path : logs) runs.push_back(read_log(path));
    const std::vector<std::string> names = legend_names(runs);
    const Frame f = frame_for(runs);

    std::ostringstream s;
    s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << f.W << "\" height=\"" << f.H << "\" viewBox=\"0 0 " << f.W
      << " " << f.H << "\" font-family=\"" << kFontSans << "\">\n";
    draw_axes(s, f);
    draw_curves(s, f, runs, names);
    draw_legend(s, f, runs, names);
    s << "</svg>\n";
    safetensors::write_file_atomic(out_path, s.str());
}

}  // namespace xgrad

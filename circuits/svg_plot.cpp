#include "circuits/svg_plot.h"
#include "core/atomic_write.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "core/errors.h"

namespace headlab::svg {
namespace {

constexpr const char* kFont = "font-family=\"Helvetica, Arial, sans-serif\"";
constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Gradient ids must be unique within a document, and pictures are stacked into one document.
std::atomic<int> next_gradient_id{0};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string num(double v) { return fmt("%.2f", v); }
std::string tick_text(double v) {
  if (std::fabs(v) < 1e-12) return "0";
  return fmt("%.4g", v);
}

std::string text(double x, double y, const std::string& s, int size, const char* anchor = "start", double rotate = 0,
                 const char* fill = "#222") {
  std::string t = "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + std::to_string(size) + "\" " +
                  kFont + " text-anchor=\"" + anchor + "\" fill=\"" + fill + "\"";
  if (rotate != 0) t += " transform=\"rotate(" + num(rotate) + " " + num(x) + " " + num(y) + ")\"";
  return t + ">" + escape_xml(s) + "</text>\n";
}
std::string line(double x1, double y1, double x2, double y2, const char* stroke = "#444", double width = 1) {
  return "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) + "\" stroke=\"" +
         stroke + "\" stroke-width=\"" + num(width) + "\"/>\n";
}
std::string rect(double x, double y, double w, double h, const std::string& fill, const char* extra = "") {
  return "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) + "\" fill=\"" +
         fill + "\" " + extra + "/>\n";
}

struct Rgb {
  double r, g, b;
};
std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", int(std::lround(c.r)), int(std::lround(c.g)), int(std::lround(c.b)));
  return buf;
}
Rgb mix(Rgb a, Rgb b, double t) { return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t}; }
constexpr Rgb kWhite{255, 255, 255}, kRed{178, 24, 43}, kBlue{33, 102, 172};

// t in [-1, 1] (diverging) or [0, 1] (sequential).
Rgb colour_at(double t, ColourScale scale) {
  if (scale == ColourScale::sequential) return mix(kWhite, kRed, std::clamp(t, 0.0, 1.0));
  t = std::clamp(t, -1.0, 1.0);
  return t >= 0 ? mix(kWhite, kRed, t) : mix(kWhite, kBlue, -t);
}

double max_label_chars(const std::vector<std::string>& labels) {
  size_t n = 0;
  for (const auto& s : labels) n = std::max(n, s.size());
  return double(n);
}

// About five round tick values covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi) {
  const double range = hi - lo;
  const double raw = range / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push_back(v);
  return ticks;
}

// Finite min and max of the values (0, 1 when there are none); a flat range is widened.
std::pair<double, double> value_range(const std::vector<const std::vector<double>*>& lists, bool include_zero) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* l : lists)
    for (double v : *l)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) return {0.0, 1.0};
  if (include_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  if (hi - lo < 1e-12) lo -= 1, hi += 1;
  const double pad = (hi - lo) * 0.05;
  return {lo - (include_zero && lo == 0 ? 0 : pad), hi + (include_zero && hi == 0 ? 0 : pad)};
}

// The colour bar beside a heatmap: a gradient from centre - limit (or 0) to centre + limit, top = largest.
std::string colour_bar(double x, double y, double h, double centre, double limit, ColourScale scale,
                       const std::string& caption) {
  const std::string id = "hlgrad" + std::to_string(next_gradient_id++);
  std::string s = "<defs><linearGradient id=\"" + id + "\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n";
  const int stops = 8;
  for (int i = 0; i <= stops; ++i) {
    const double f = double(i) / stops;
    const double t = scale == ColourScale::diverging ? 2 * f - 1 : f;
    s += "<stop offset=\"" + num(f) + "\" stop-color=\"" + hex(colour_at(t, scale)) + "\"/>\n";
  }
  s += "</linearGradient></defs>\n";
  s += rect(x, y, 14, h, "url(#" + id + ")", "stroke=\"#888\" stroke-width=\"0.5\"");
  const double lo = scale == ColourScale::diverging ? centre - limit : 0;
  const double hi = scale == ColourScale::diverging ? centre + limit : limit;
  for (double f : {0.0, 0.5, 1.0}) {
    const double v = lo + (hi - lo) * f;
    const double ty = y + h - f * h;
    s += line(x + 14, ty, x + 18, ty);
    s += text(x + 21, ty + 4, tick_text(v), 10);
  }
  if (!caption.empty()) s += text(x + 7, y - 8, caption, 10, "middle");
  return s;
}

}  // namespace

std::vector<std::string> layer_labels(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back("L" + std::to_string(i));
  return v;
}
std::vector<std::string> head_labels(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back("H" + std::to_string(i));
  return v;
}

Picture heatmap(const Heatmap& h) {
  const size_t rows = h.y_labels.size(), cols = h.x_labels.size();
  if (h.values.size() != rows * cols)
    throw InternalError("svg heatmap '" + h.title + "': " + std::to_string(h.values.size()) + " values for " +
                        std::to_string(rows) + " x " + std::to_string(cols) + " cells");
  const double cw = std::clamp(720.0 / double(std::max<size_t>(cols, 1)), 6.0, 40.0);
  const double ch = std::clamp(480.0 / double(std::max<size_t>(rows, 1)), 6.0, 26.0);
  const double left = 30 + 6.5 * max_label_chars(h.y_labels) + (h.y_title.empty() ? 0 : 16);
  const double top = h.title.empty() ? 16 : 40;
  const double grid_w = cw * double(cols), grid_h = ch * double(rows);
  // x labels: upright when they fit, else turned; every k-th when the cells are too narrow.
  const double xl_chars = max_label_chars(h.x_labels);
  const bool turned = xl_chars * 6.5 > cw;
  const size_t every_x = size_t(std::ceil((turned ? 11.0 : 6.5 * xl_chars + 4) / cw));
  const size_t every_y = size_t(std::ceil(11.0 / ch));
  const double xlab_h = turned ? xl_chars * 5.6 + 14 : 18;

  const double centre = h.scale == ColourScale::diverging ? h.centre : 0;
  double limit = h.limit;
  if (limit <= 0)
    for (double v : h.values)
      if (std::isfinite(v)) limit = std::max(limit, std::fabs(v - centre));
  if (limit <= 0) limit = 1;

  std::string s;
  if (!h.title.empty()) s += text(left, 22, h.title, 14);
  const bool annotate = cw >= 30 && ch >= 16;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      const double v = h.values[r * cols + c];
      const double x = left + cw * double(c), y = top + ch * double(r);
      if (!std::isfinite(v)) {
        s += rect(x, y, cw, ch, "#f4f4f4");
        continue;
      }
      const double t = (v - centre) / limit;
      s += "<g>" + rect(x, y, cw, ch, hex(colour_at(t, h.scale)));
      s += "<title>" + escape_xml(h.y_labels[r] + " " + h.x_labels[c] + ": " + fmt("%.4g", v)) + "</title></g>\n";
      if (annotate)
        s += text(x + cw / 2, y + ch / 2 + 3.5, fmt("%.2f", v), 9, "middle", 0, std::fabs(t) > 0.6 ? "#fff" : "#222");
    }
  }
  s += rect(left, top, grid_w, grid_h, "none", "stroke=\"#888\" stroke-width=\"0.5\"");
  for (size_t r = 0; r < rows; r += every_y)
    s += text(left - 5, top + ch * (double(r) + 0.5) + 4, h.y_labels[r], 11, "end");
  for (size_t c = 0; c < cols; c += every_x) {
    const double x = left + cw * (double(c) + 0.5);
    if (turned)
      s += text(x + 3, top + grid_h + 8, h.x_labels[c], 10, "end", -60);
    else
      s += text(x, top + grid_h + 14, h.x_labels[c], 11, "middle");
  }
  if (!h.x_title.empty()) s += text(left + grid_w / 2, top + grid_h + xlab_h + 14, h.x_title, 12, "middle");
  if (!h.y_title.empty()) s += text(14, top + grid_h / 2, h.y_title, 12, "middle", -90);
  const double bar_h = std::max(grid_h, 100.0);
  s += colour_bar(left + grid_w + 18, top, bar_h, centre, limit, h.scale, h.value_title);

  Picture p;
  p.width = std::max(left + grid_w + 18 + 70, left + 8.0 * double(h.title.size()));
  p.height = top + std::max(grid_h + xlab_h + (h.x_title.empty() ? 4 : 22), bar_h + 10);
  p.body = std::move(s);
  return p;
}

namespace {

// Axes, ticks and titles of a chart whose plot area is [left, left+w] x [top, top+h].
std::string chart_frame(double left, double top, double w, double h, double ylo, double yhi, const std::string& title,
                        const std::string& y_title) {
  std::string s;
  if (!title.empty()) s += text(left, 22, title, 14);
  s += rect(left, top, w, h, "none", "stroke=\"#888\" stroke-width=\"0.5\"");
  for (double v : nice_ticks(ylo, yhi)) {
    const double y = top + h - (v - ylo) / (yhi - ylo) * h;
    s += line(left, y, left + w, y, "#e4e4e4");
    s += line(left - 4, y, left, y);
    s += text(left - 7, y + 4, tick_text(v), 10, "end");
  }
  if (!y_title.empty()) s += text(14, top + h / 2, y_title, 12, "middle", -90);
  return s;
}

}  // namespace

Picture line_chart(const LineChart& c) {
  for (const Series& sr : c.series)
    if (sr.y.size() != c.x.size())
      throw InternalError("svg line chart '" + c.title + "': series '" + sr.name + "' has " +
                          std::to_string(sr.y.size()) + " values for " + std::to_string(c.x.size()) + " x values");
  std::vector<const std::vector<double>*> ys;
  for (const Series& sr : c.series) ys.push_back(&sr.y);
  // Plain variables, not structured bindings: the lambdas below capture them (clang 14, which
  // builds the fuzzers, cannot capture a structured binding).
  const std::pair<double, double> yr = value_range(ys, false), xr = value_range({&c.x}, false);
  const double ylo = yr.first, yhi = yr.second;
  double xlo = xr.first, xhi = xr.second;
  if (!c.x.empty()) {
    xlo = *std::min_element(c.x.begin(), c.x.end());
    xhi = *std::max_element(c.x.begin(), c.x.end());
    if (xhi - xlo < 1e-12) xlo -= 1, xhi += 1;
  }
  const double left = 70, top = c.title.empty() ? 16 : 40, w = 560, h = 300;
  std::string s = chart_frame(left, top, w, h, ylo, yhi, c.title, c.y_title);
  auto X = [&](double v) { return left + (v - xlo) / (xhi - xlo) * w; };
  auto Y = [&](double v) { return top + h - (v - ylo) / (yhi - ylo) * h; };
  // Whole-number x (layers, steps) gets whole-number ticks only.
  const bool whole_x = std::all_of(c.x.begin(), c.x.end(), [](double v) { return v == std::floor(v); });
  for (double v : nice_ticks(xlo, xhi)) {
    if (whole_x && v != std::floor(v)) continue;
    s += line(X(v), top + h, X(v), top + h + 4);
    s += text(X(v), top + h + 16, tick_text(v), 10, "middle");
  }
  if (!c.x_title.empty()) s += text(left + w / 2, top + h + 36, c.x_title, 12, "middle");
  for (size_t k = 0; k < c.series.size(); ++k) {
    const char* colour = kPalette[k % (sizeof kPalette / sizeof kPalette[0])];
    std::string pts;
    auto flush = [&] {
      if (!pts.empty())
        s += "<polyline fill=\"none\" stroke=\"" + std::string(colour) + "\" stroke-width=\"1.8\" points=\"" + pts +
             "\"/>\n";
      pts.clear();
    };
    for (size_t i = 0; i < c.x.size(); ++i) {
      const double v = c.series[k].y[i];
      if (!std::isfinite(v)) {
        flush();
        continue;
      }
      pts += num(X(c.x[i])) + "," + num(Y(v)) + " ";
      if (c.x.size() <= 40)
        s += "<circle cx=\"" + num(X(c.x[i])) + "\" cy=\"" + num(Y(v)) + "\" r=\"2.5\" fill=\"" + colour + "\"/>\n";
    }
    flush();
    const double ly = top + 10 + 16 * double(k);
    s += line(left + w + 14, ly - 4, left + w + 34, ly - 4, colour, 2.5);
    s += text(left + w + 40, ly, c.series[k].name, 11);
  }
  double legend_chars = 0;
  for (const Series& sr : c.series) legend_chars = std::max(legend_chars, double(sr.name.size()));
  Picture p;
  p.width = left + w + 50 + 6.5 * legend_chars;
  p.height = top + h + 46;
  p.body = std::move(s);
  return p;
}

Picture bar_chart(const BarChart& c) {
  if (c.values.size() != c.labels.size())
    throw InternalError("svg bar chart '" + c.title + "': " + std::to_string(c.values.size()) + " values for " +
                        std::to_string(c.labels.size()) + " labels");
  const std::pair<double, double> yr = value_range({&c.values}, true);
  const double ylo = yr.first, yhi = yr.second;
  const size_t n = c.values.size();
  const double bw = std::clamp(640.0 / double(std::max<size_t>(n, 1)), 5.0, 40.0);
  const double left = 70, top = c.title.empty() ? 16 : 40, w = bw * double(n), h = 260;
  std::string s = chart_frame(left, top, std::max(w, 1.0), h, ylo, yhi, c.title, c.y_title);
  auto Y = [&](double v) { return top + h - (v - ylo) / (yhi - ylo) * h; };
  s += line(left, Y(0), left + w, Y(0), "#444");
  const size_t every = size_t(std::ceil(11.0 / bw));
  for (size_t i = 0; i < n; ++i) {
    const double v = c.values[i], x = left + bw * double(i);
    if (std::isfinite(v)) {
      const double y0 = Y(0), y1 = Y(v);
      s += "<g>" + rect(x + bw * 0.1, std::min(y0, y1), bw * 0.8, std::fabs(y1 - y0), v >= 0 ? "#b2182b" : "#2166ac");
      s += "<title>" + escape_xml(c.labels[i] + ": " + fmt("%.4g", v)) + "</title></g>\n";
    }
    if (i % every == 0) s += text(x + bw / 2 + 3, top + h + 8, c.labels[i], 10, "end", -60);
  }
  Picture p;
  p.width = std::max(left + w + 30, left + 8.0 * double(c.title.size()));
  p.height = top + h + 14 + 5.6 * max_label_chars(c.labels);
  p.body = std::move(s);
  return p;
}

Picture stack(const std::vector<Picture>& pictures) {
  Picture out;
  for (const Picture& p : pictures) {
    out.body += "<g transform=\"translate(0," + num(out.height) + ")\">\n" + p.body + "</g>\n";
    out.height += p.height + 16;
    out.width = std::max(out.width, p.width);
  }
  return out;
}

std::string to_svg(const Picture& p) {
  const std::string w = num(std::ceil(p.width + 10)), h = num(std::ceil(p.height + 10));
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
         "width=\"" +
         w + "\" height=\"" + h + "\" viewBox=\"0 0 " + w + " " + h + "\">\n" +
         rect(0, 0, p.width + 10, p.height + 10, "#fff") + "<g transform=\"translate(5,5)\">\n" + p.body +
         "</g>\n</svg>\n";
}

void write_svg(const std::string& path, const Picture& p) { write_text_file_atomically(path, to_svg(p)); }

}  // namespace headlab::svg

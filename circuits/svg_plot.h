// A small SVG writer for the pictures the circuits commands draw for people: heatmaps (layer by
// position, layer by head ...), line charts (a score over layers or training steps) and bar
// charts. Self-contained: no plotting library, plain SVG 1.1 that any browser shows.
//
// Usage:
//   svg::Heatmap h;
//   h.title = "denoising: blocks.*.hook_resid_pre";
//   h.y_labels = svg::layer_labels(2);        // rows, top to bottom: L0, L1
//   h.x_labels = {"0", "1", "2"};             // columns
//   h.values = {...};                         // [rows, cols], row-major; NaN leaves a cell empty
//   svg::write_svg(path, svg::stack({svg::heatmap(h), svg::bar_chart(b)}));
#pragma once
#include <string>
#include <vector>

#include "core/markup_text.h"

namespace headlab::svg {

// A drawing: SVG elements laid out in the box [0, width] x [0, height].
struct Picture {
  double width = 0, height = 0;
  std::string body;
};

enum class ColourScale {
  diverging,   // blue (negative) - white (0) - red (positive), symmetric around 0
  sequential,  // white (0) to red (the largest value)
};

struct Heatmap {
  std::string title;
  std::string x_title, y_title;       // axis titles ("position", "layer")
  std::vector<std::string> x_labels;  // one per column
  std::vector<std::string> y_labels;  // one per row, top to bottom
  std::vector<double> values;         // [rows, cols] row-major; NaN = no value
  ColourScale scale = ColourScale::diverging;
  double centre = 0;        // diverging: the value drawn white (1 for noising results)
  double limit = 0;         // distance from centre to the ends of the scale; 0 = the largest
  std::string value_title;  // caption of the colour bar
};

struct Series {
  std::string name;
  std::vector<double> y;  // one per x; NaN breaks the line
};

struct LineChart {
  std::string title, x_title, y_title;
  std::vector<double> x;
  std::vector<Series> series;
};

struct BarChart {
  std::string title, y_title;
  std::vector<std::string> labels;
  std::vector<double> values;  // NaN = no bar
};

// InternalError when the values do not match the labels.
Picture heatmap(const Heatmap& h);
Picture line_chart(const LineChart& c);
Picture bar_chart(const BarChart& c);
// The pictures one below the other, left-aligned.
Picture stack(const std::vector<Picture>& pictures);

std::string to_svg(const Picture& p);  // the whole document
// Writes "<path>.tmp" and renames it into place; InputError when the path cannot be written.
void write_svg(const std::string& path, const Picture& p);

std::vector<std::string> layer_labels(int n_layers);  // L0, L1, ...
std::vector<std::string> head_labels(int n_heads);    // H0, H1, ...
using headlab::escape_xml;                            // core/markup_text.h

}  // namespace headlab::svg

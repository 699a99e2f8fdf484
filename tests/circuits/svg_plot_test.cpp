// The SVG writer: well-formed documents with one cell or bar per value, escaped text, atomic files.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "circuits/svg_plot.h"
#include "core/errors.h"
#include "tests/circuits/circuits_test_util.h"

namespace headlab {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(CircuitsSvgTest, HeatmapHasOneColouredCellPerValueAndBlankCellsForNaN) {
  svg::Heatmap h;
  h.title = "a <b> & c";
  h.y_labels = svg::layer_labels(2);
  h.x_labels = {"0", "1 \"x\"", "2"};
  h.values = {-1, 0, 1, 0.5, std::nan(""), 2};
  const std::string doc = svg::to_svg(svg::heatmap(h));
  EXPECT_EQ(doc.rfind("<?xml", 0), 0u);
  EXPECT_NE(doc.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(doc, "<title>"), 5u);  // one tooltip per finite value
  EXPECT_EQ(count(doc, "#f4f4f4"), 1u);  // the NaN cell
  EXPECT_NE(doc.find("a &lt;b&gt; &amp; c"), std::string::npos);
  EXPECT_NE(doc.find("1 &quot;x&quot;"), std::string::npos);
  EXPECT_EQ(doc.find("<b>"), std::string::npos);
  // The largest |value| (2) sets the scale: its cell is full red, -1 half blue.
  EXPECT_NE(doc.find("#b2182b"), std::string::npos);
  h.values.pop_back();
  EXPECT_THROW(svg::heatmap(h), InternalError);
}

TEST(CircuitsSvgTest, ChartsAndStacking) {
  svg::LineChart c;
  c.title = "lines";
  c.x = {0, 1, 2, 3};
  c.series = {{"a", {1, 2, std::nan(""), 4}}, {"b", {0, 0, 0, 0}}};
  const svg::Picture line = svg::line_chart(c);
  EXPECT_EQ(count(line.body, "<polyline"), 3u);  // the NaN splits series a in two
  svg::BarChart b;
  b.labels = {"x", "y", "z"};
  b.values = {1, -2, 3};
  const svg::Picture bars = svg::bar_chart(b);
  EXPECT_EQ(count(bars.body, "<title>"), 3u);
  const svg::Picture both = svg::stack({line, bars});
  EXPECT_GT(both.height, line.height + bars.height);
  EXPECT_EQ(both.width, std::max(line.width, bars.width));
  c.series[0].y.pop_back();
  EXPECT_THROW(svg::line_chart(c), InternalError);
}

TEST(CircuitsSvgTest, WriteIsAtomicAndReportsUnwritablePaths) {
  testing::TempDir dir;
  const std::string path = dir.path("p.svg");
  svg::write_svg(path, svg::bar_chart({"t", "y", {"a"}, {1.0}}));
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("<svg"), std::string::npos);
  EXPECT_FALSE(std::ifstream(path + ".tmp").good());
  EXPECT_THROW(svg::write_svg(dir.path("no/such/folder/p.svg"), svg::Picture{}), InputError);
}

}  // namespace
}  // namespace headlab

// The dependency rule between the source folders, read off the #include lines:
//
//   core <- model, data <- train, circuits, probes <- tools
//
// A folder includes only itself and folders to its left (model and data do not include each other,
// nor do train, circuits and probes); tools include anything. Includes are written from the
// repository root ("model/config.h"), so the first path component names the folder.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace headlab {
namespace {

namespace fs = std::filesystem;

// Each folder's place in the order: a folder may include folders of a lower rank.
const std::map<std::string, int>& folder_ranks() {
  static const std::map<std::string, int> ranks = {
      {"core", 0}, {"model", 1}, {"data", 1}, {"train", 2}, {"circuits", 2}, {"probes", 2}, {"tools", 3},
  };
  return ranks;
}

std::string allowed_text(const std::string& folder) {
  const int rank = folder_ranks().at(folder);
  std::string s = folder;
  for (const auto& [other, r] : folder_ranks())
    if (r < rank) s += ", " + other;
  return s;
}

bool is_source(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".h" || ext == ".cpp" || ext == ".cu" || ext == ".cuh";
}

struct Scan {
  int files = 0;
  int includes = 0;
  std::vector<std::string> violations;  // "file:line: #include "x": why"
};

// Every "..." include of every source file under root's layer folders, checked against the order.
Scan scan_layers(const fs::path& root) {
  static const std::regex include_line(R"re(^\s*#\s*include\s*"([^"]+)")re");
  Scan scan;
  for (const auto& [folder, rank] : folder_ranks()) {
    const fs::path dir = root / folder;
    if (!fs::is_directory(dir)) continue;
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file() || !is_source(e.path())) continue;
      ++scan.files;
      const std::string rel = fs::relative(e.path(), root).generic_string();
      std::ifstream in(e.path());
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        std::smatch m;
        if (!std::regex_search(line, m, include_line)) continue;
        ++scan.includes;
        const std::string target = m[1].str();
        const size_t slash = target.find('/');
        const std::string to = slash == std::string::npos ? "" : target.substr(0, slash);
        const auto it = folder_ranks().find(to);
        std::string why;
        if (it == folder_ranks().end())
          why = "not a layer folder (write includes from the repository root, e.g. \"core/errors.h\")";
        else if (to != folder && it->second >= rank)
          why = folder + "/ may include only " + allowed_text(folder) +
                " (core <- model, data <- train, circuits, probes <- tools)";
        if (!why.empty())
          scan.violations.push_back(rel + ":" + std::to_string(n) + ": #include \"" + target + "\": " + why);
      }
    }
  }
  return scan;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

TEST(LayeringTest, EveryIncludeFollowsTheLayerOrder) {
  const Scan scan = scan_layers(HEADLAB_SOURCE_DIR);
  // The scan saw the real tree (a wrong root would find nothing and pass).
  EXPECT_GT(scan.files, 100);
  EXPECT_GT(scan.includes, 500);
  EXPECT_TRUE(scan.violations.empty()) << scan.violations.size() << " include(s) break the layer order:\n"
                                       << joined(scan.violations);
}

// The checker itself, on a small tree with one allowed include of each kind and the forbidden ones.
TEST(LayeringTest, FlagsIncludesThatReachUpOrSideways) {
  const fs::path root = fs::path(HEADLAB_BINARY_DIR) / "test_out" / "layering_tree";
  fs::remove_all(root);
  auto write = [&](const std::string& path, const std::string& text) {
    fs::create_directories((root / path).parent_path());
    std::ofstream(root / path) << text;
  };
  write("core/a.h", "#include <vector>\n#include \"core/b.h\"\n");
  write("model/m.cpp", "#include \"core/a.h\"\n#include \"model/m.h\"\n");
  write("data/d.cpp", "  #  include \"model/m.h\"\n");                         // sideways
  write("core/c.cpp", "#include \"data/d.h\"\n");                              // up
  write("train/t.cpp", "#include \"circuits/x.h\"\n#include \"data/d.h\"\n");  // sideways, then fine
  write("circuits/x.cu", "#include \"tools/common/command_main.h\"\n");        // up into the tools
  write("probes/p.cpp", "#include \"tests/temp_dir.h\"\n");                    // not a layer
  write("tools/headlab-x/main.cpp", "#include \"circuits/x.h\"\n#include \"tools/common/y.h\"\n");
  write("model/notes.txt", "#include \"tools/z.h\"\n");  // not a source file
  const Scan scan = scan_layers(root);
  EXPECT_EQ(scan.files, 8);
  ASSERT_EQ(scan.violations.size(), 5u) << joined(scan.violations);
  const std::string all = joined(scan.violations);
  for (const char* expected : {
           "data/d.cpp:1: #include \"model/m.h\": data/ may include only data, core",
           "core/c.cpp:1: #include \"data/d.h\": core/ may include only core ",
           "train/t.cpp:1: #include \"circuits/x.h\": train/ may include only train, core, data, model",
           "circuits/x.cu:1: #include \"tools/common/command_main.h\"",
           "probes/p.cpp:1: #include \"tests/temp_dir.h\": not a layer folder",
       })
    EXPECT_NE(all.find(expected), std::string::npos) << expected << "\nnot in:\n" << all;
  fs::remove_all(root);
}

}  // namespace
}  // namespace headlab

#include "data/dataset_annotations.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/h5_file.h"
#include "core/output_files.h"

namespace headlab {
namespace {

// The attributes headlab-data writes (the h5 wrapper reads attributes by name, not by listing them).
const char* const kKnownAttributes[] = {
    "task",           "task_options", "templates", "names",     "order_names", "knowledge_base", "attribute_names",
    "sequence_names", "label_names",  "split",     "documents", "tag_mapping", "sources",        "corrupted_start"};

void add_annotations(const std::string& path, const DatasetAnnotations& a) {
  h5::File file = h5::File::open(path, h5::Access::read_write);
  for (const auto& [name, value] : a.attributes) file.set_attr(name, value);
  if (!a.label_names.empty()) file.set_attr("label_names", nlohmann::json(a.label_names).dump());
  for (const auto& [name, values] : a.task_arrays) file.write<int32_t>("task/" + name, values);
  for (const auto& [name, table] : a.task_tables) file.write<double>("task/" + name, table.values.data(), table.shape);
  file.close();
}

}  // namespace

void write_annotated_dataset(const std::string& path, const TokenDataset& dataset,
                             const DatasetAnnotations& annotations) {
  check_output_file(path, "");
  const std::string part = path + ".part";
  write_token_dataset(part, dataset);
  try {
    add_annotations(part, annotations);
  } catch (...) {
    std::remove(part.c_str());
    throw;
  }
  if (std::rename(part.c_str(), path.c_str()) != 0) {
    std::remove(part.c_str());
    throw InputError(path, "cannot rename the finished file into place");
  }
}

DatasetAnnotations read_dataset_annotations(const std::string& path) {
  const h5::File file = h5::File::open(path);
  DatasetAnnotations a;
  for (const char* name : kKnownAttributes)
    if (file.has_attr(name)) a.attributes[name] = file.attr_string(name);
  auto it = a.attributes.find("label_names");
  if (it != a.attributes.end()) {
    try {
      a.label_names = nlohmann::json::parse(it->second).get<std::map<std::string, std::vector<std::string>>>();
    } catch (const nlohmann::json::exception& e) {
      throw InputError(file.attr_where("label_names"),
                       std::string("expected a JSON object of name lists: ") + e.what());
    }
  }
  if (file.is_group("task")) {
    const h5::Group task = file.group("task");
    for (const std::string& name : task.children()) {
      const h5::DType type = task.dtype(name);
      if (type == h5::DType::f64 || type == h5::DType::f32) {
        TaskTable& t = a.task_tables[name];
        t.values = task.read<double>(name, &t.shape);
      } else {
        a.task_arrays[name] = task.read<int32_t>(name, h5::Shape{-1});
      }
    }
  }
  return a;
}

}  // namespace headlab

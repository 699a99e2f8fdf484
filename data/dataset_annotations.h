// What a token dataset carries beyond data/token_dataset.h's contract, so its labels and task arrays
// can be read without headlab: root string attributes (JSON text or plain), the names behind each
// integer label ("label_names", one JSON object {label: [name of value 0, name of value 1, ...]}) and
// task arrays (1-D int32 datasets under /task/, e.g. /task/year_tokens for greater-than) and task
// tables (float64 datasets of any shape under /task/, e.g. /task/transitions for the Markov task).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/token_dataset.h"

namespace headlab {

struct TaskTable {
  std::vector<int64_t> shape;
  std::vector<double> values;  // row-major
};

struct DatasetAnnotations {
  std::map<std::string, std::string> attributes;
  std::map<std::string, std::vector<std::string>> label_names;
  std::map<std::string, std::vector<int32_t>> task_arrays;
  std::map<std::string, TaskTable> task_tables;
};

// Writes the dataset through write_token_dataset to a temporary name, adds the annotations, and renames
// the file into place: no partial file is ever left at `path`.
void write_annotated_dataset(const std::string& path, const TokenDataset& dataset,
                             const DatasetAnnotations& annotations);

// Reads back what write_annotated_dataset added (attributes it does not know are skipped).
// InputError naming the file when it cannot be opened.
DatasetAnnotations read_dataset_annotations(const std::string& path);

}  // namespace headlab

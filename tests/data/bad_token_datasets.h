// Broken token datasets for the bad-input tests of every command that reads one (headlab-data mix,
// headlab-circuits --data ...): each is a valid task file with one thing wrong, written with the
// HDF5 wrapper so that dtypes, ranks and attributes can be anything a file can hold.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/h5_file.h"

namespace headlab::testing {

struct BadDataset {
  std::string name;      // what is wrong, for failure messages
  std::string path;      // the file
  std::string mentions;  // text the one-line error must contain besides the path ("" = only the path)
};

namespace bad_datasets_detail {

inline h5::File open_copy(const std::string& valid, const std::string& path) {
  std::filesystem::copy_file(valid, path, std::filesystem::copy_options::overwrite_existing);
  return h5::File::open(path, h5::Access::read_write);
}

template <class T>
void replace(h5::File& f, const std::string& name, const std::vector<T>& values, const h5::Shape& shape) {
  if (f.exists(name)) f.remove(name);
  f.write<T>(name, values.data(), shape);
}

// Every per-row and per-token array of the file, replaced by an empty one of its rank.
inline void empty_rows(h5::File& f, int64_t seq_len) {
  const std::vector<int32_t> none;
  for (const char* name : {"tokens", "corrupted", "labels/role"})
    if (f.exists(name)) replace<int32_t>(f, name, none, {0, seq_len});
  if (f.exists("loss_mask")) replace<uint8_t>(f, "loss_mask", {}, {0, seq_len});
  for (const char* name : {"answer", "wrong_answer", "answer_pos"})
    if (f.exists(name)) replace<int32_t>(f, name, none, {0});
}

}  // namespace bad_datasets_detail

// `valid`: a sequences task file (/tokens [n, T], /corrupted, /answer, /wrong_answer, /answer_pos,
// /loss_mask) whose d_vocab attribute is `d_vocab`. Writes the broken copies into `dir`.
inline std::vector<BadDataset> write_bad_token_datasets(const std::string& valid, const std::string& dir,
                                                        int64_t d_vocab) {
  using namespace bad_datasets_detail;
  const h5::Shape shape = h5::File::open(valid).shape("tokens");
  const int64_t n = shape.at(0), T = shape.at(1);
  std::vector<BadDataset> out;
  auto add = [&](const std::string& name, const std::string& mentions) {
    out.push_back({name, dir + "/bad_" + name + ".h5", mentions});
    return out.back().path;
  };
  {
    std::ofstream(add("empty_file", "HDF5"));
    std::ofstream random(add("random_bytes", "HDF5"), std::ios::binary);
    for (int i = 0; i < 4096; ++i) random.put(char((i * 7919 + 13) % 251));
  }
  {
    std::ifstream in(valid, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(add("truncated", "HDF5"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const std::vector<float> floats(size_t(n * T), 1.5f);
  const std::vector<int64_t> negative(size_t(n * T), -1);
  {
    h5::File f = open_copy(valid, add("no_tokens", "/tokens"));
    f.remove("tokens");
  }
  {
    h5::File f = open_copy(valid, add("float_tokens", "/tokens"));
    replace<float>(f, "tokens", floats, {n, T});
  }
  {
    h5::File f = open_copy(valid, add("negative_int64_tokens", "/tokens"));
    replace<int64_t>(f, "tokens", negative, {n, T});
  }
  {
    h5::File f = open_copy(valid, add("rank3_tokens", "/tokens"));
    replace<int32_t>(f, "tokens", std::vector<int32_t>(size_t(n * T), 0), {n, T, 1});
  }
  {
    h5::File f = open_copy(valid, add("token_over_d_vocab", "/tokens"));
    std::vector<int32_t> tokens = f.read<int32_t>("tokens", shape);
    tokens[1] = int32_t(d_vocab);
    replace<int32_t>(f, "tokens", tokens, shape);
  }
  {
    h5::File f = open_copy(valid, add("zero_rows", ""));
    empty_rows(f, T);
  }
  {
    h5::File f = open_copy(valid, add("corrupted_longer", "/corrupted"));
    replace<int32_t>(f, "corrupted", std::vector<int32_t>(size_t(n * (T + 1)), 0), {n, T + 1});
  }
  {
    h5::File f = open_copy(valid, add("answer_short", "/answer"));
    replace<int32_t>(f, "answer", std::vector<int32_t>(size_t(n - 1), 0), {n - 1});
  }
  {
    h5::File f = open_copy(valid, add("wrong_answer_over_d_vocab", "/wrong_answer"));
    replace<int32_t>(f, "wrong_answer", std::vector<int32_t>(size_t(n), int32_t(d_vocab + 5)), {n});
  }
  {
    h5::File f = open_copy(valid, add("loss_mask_misshapen", "/loss_mask"));
    replace<uint8_t>(f, "loss_mask", std::vector<uint8_t>(size_t(n * (T - 1)), 1), {n, T - 1});
  }
  {
    h5::File f = open_copy(valid, add("no_format", "format"));
    f.remove_attr("format");
  }
  {
    h5::File f = open_copy(valid, add("format_version_99", "format_version"));
    f.set_attr("format_version", int64_t(99));
  }
  {
    // A file may declare [2^31, 2^20] tokens and store none: refused before allocating 8 PiB.
    h5::File f = open_copy(valid, add("huge_declared_shape", "memory"));
    f.remove("tokens");
    h5::DatasetOptions chunked;
    chunked.chunk_rows = 1;
    f.create_dataset<uint16_t>("tokens", {int64_t(1) << 31, int64_t(1) << 20}, chunked);
  }
  return out;
}

}  // namespace headlab::testing

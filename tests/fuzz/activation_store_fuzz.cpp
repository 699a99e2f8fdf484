// An activation store (headlab-probes extract; read by headlab-probes linear and intervene): its
// provenance and arrays checked on open, then every hook's first rows, the tokens and the labels.
#include <algorithm>
#include <vector>

#include "probes/activation_store.h"
#include "tests/fuzz/fuzz_target.h"

HEADLAB_FUZZ_TARGET(activation_store) {
  const std::string path = headlab::fuzz::input_file(data, size, ".h5");
  const headlab::ActivationStore store(path);
  for (const std::string& hook : store.hooks()) {
    const int64_t width = store.row_width(hook);
    // The caller sizes the buffer: the probes read a few thousand rows at a time.
    const int64_t rows = std::min<int64_t>(store.n_tokens(), width > 0 ? std::max<int64_t>(1, (1 << 20) / width) : 1);
    if (width <= 0 || width > (1 << 20)) continue;
    std::vector<float> buf(static_cast<size_t>(rows * width));
    store.read_rows(hook, 0, rows, buf.data());
  }
  store.tokens();
  store.positions();
  store.doc_ids();
  for (const std::string& name : store.label_names()) {
    if (store.label_kind(name) == headlab::LabelKind::classes) {
      store.class_label(name);
      store.class_names(name);
    } else {
      store.scalar_label(name);
    }
  }
}

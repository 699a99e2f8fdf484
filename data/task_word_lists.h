// The word lists the synthetic tasks draw from. Each list is longer than a task needs, so that under a
// BPE tokenizer enough of its words survive the single-token filter (data/task_rows.h).
#pragma once
#include <string>
#include <vector>

namespace headlab {

const std::vector<std::string>& first_names();     // 100+ common English first names
const std::vector<std::string>& surnames();        // 60+
const std::vector<std::string>& ioi_places();      // "the store": places one goes to
const std::vector<std::string>& ioi_objects();     // "a drink": consonant-initial, so "a" reads right
const std::vector<std::string>& history_nouns();   // "The war lasted from ..."
const std::vector<std::string>& retrieval_keys();  // concrete nouns used as keys
const std::vector<std::string>& weekdays();        // Monday .. Sunday
const std::vector<std::string>& months();          // January .. December

}  // namespace headlab

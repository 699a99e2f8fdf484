// Indirect object identification (Wang et al. 2022): "When Mary and John went to the store, John gave a
// drink to" -> " Mary". Two names are introduced, the subject (S) is mentioned again (S2), and the
// answer is the other name, the indirect object (IO). ABBA rows introduce IO first, BABA rows S first.
// The corrupted twin is the "ABC" distribution: S2 is replaced by a third name, so the sentence no
// longer says who the indirect object is; it differs from the clean row at the S2 position only.
// The templates are headlab's own wording of the paper's kind of sentence.
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/task_rows.h"
#include "data/task_word_lists.h"
#include "data/tasks.h"

namespace headlab {
namespace {

const std::vector<std::string> kSlots = {"N1", "N2", "S", "PLACE", "OBJECT"};
enum Slot { kFirstName, kSecondName, kSubjectAgain, kPlace, kObject };
enum Role { kNone, kIO, kS1, kS2, kEnd };
const std::vector<std::string> kRoleNames = {"none", "IO", "S1", "S2", "END"};

const std::vector<std::string>& templates() {
  static const std::vector<std::string> t = {
      "When {N1} and {N2} went to the {PLACE}, {S} gave a {OBJECT} to",
      "After {N1} and {N2} arrived at the {PLACE}, {S} handed a {OBJECT} to",
      "While {N1} and {N2} were working at the {PLACE}, {S} gave a {OBJECT} to",
      "Then, {N1} and {N2} had a long talk at the {PLACE}. {S} gave a {OBJECT} to",
      "Yesterday {N1} and {N2} walked to the {PLACE}, and {S} passed a {OBJECT} to",
      "When {N1} and {N2} met at the {PLACE}, {S} brought a {OBJECT} to",
      "Later, {N1} and {N2} stayed at the {PLACE}. {S} sent a {OBJECT} to",
      "On Sunday {N1} and {N2} visited the {PLACE}, where {S} gave a {OBJECT} to",
      "After the meeting, {N1} and {N2} went to the {PLACE}. {S} offered a {OBJECT} to",
      "Friends {N1} and {N2} found a {OBJECT} at the {PLACE}. {S} gave it to",
      "When {N1} and {N2} got a {OBJECT} at the {PLACE}, {S} decided to give it to",
      "Once {N1} and {N2} reached the {PLACE}, {S} threw the {OBJECT} to",
      "As {N1} and {N2} left the {PLACE}, {S} showed a {OBJECT} to",
      "Since {N1} and {N2} were at the {PLACE}, {S} lent a {OBJECT} to",
      "Then {N1} and {N2} argued at the {PLACE}, and afterwards {S} said goodbye to",
      "In the morning {N1} and {N2} cleaned the {PLACE}, and {S} returned the {OBJECT} to",
  };
  return t;
}

constexpr size_t kListSize = 50;  // names, places and objects used under the word tokenizer
constexpr size_t kMinNames = 10, kMinPlaces = 5, kMinObjects = 5;

struct IoiVocabulary {
  std::vector<int32_t> names, places, objects;  // token ids of " Mary", " store", " drink"
  std::vector<std::string> name_words;
};

std::vector<int32_t> ids_of(const Tokenizer& tok, const std::vector<std::string>& words) {
  std::vector<int32_t> ids;
  for (const std::string& w : words) ids.push_back(single_token(tok, " " + w));
  return ids;
}

IoiVocabulary ioi_vocabulary(const Tokenizer& tok) {
  IoiVocabulary v;
  v.name_words = single_token_words(tok, first_names(), " ", kMinNames, kListSize, "names");
  v.names = ids_of(tok, v.name_words);
  v.places = ids_of(tok, single_token_words(tok, ioi_places(), " ", kMinPlaces, kListSize, "places"));
  v.objects = ids_of(tok, single_token_words(tok, ioi_objects(), " ", kMinObjects, kListSize, "objects"));
  return v;
}

// io, s, c: the indirect object, the subject, the third name of the corrupted twin.
TaskRow ioi_row(const Tokenizer& tok, const std::vector<TemplatePiece>& pieces, bool abba, int32_t io, int32_t s,
                int32_t c, int32_t place, int32_t object) {
  RowBuilder row(tok);
  row.bos();
  for (const TemplatePiece& p : pieces) {
    switch (p.slot) {
      case -1:
        row.text(p.literal);
        break;
      case kFirstName:
        row.same(abba ? io : s, abba ? kIO : kS1);
        break;
      case kSecondName:
        row.same(abba ? s : io, abba ? kS1 : kIO);
        break;
      case kSubjectAgain:
        row.differing(s, c, kS2);
        break;
      case kPlace:
        row.same(place);
        break;
      case kObject:
        row.same(object);
        break;
    }
  }
  row.answer(io, s, kEnd);
  return row.finish();
}

}  // namespace

std::vector<std::string> ioi_words() {
  std::vector<std::string> texts;
  for (const std::string& t : templates()) texts.push_back(template_words(t));
  for (const auto* list : {&first_names(), &ioi_places(), &ioi_objects()})
    texts.insert(texts.end(), list->begin(), list->begin() + std::min(list->size(), kListSize));
  return texts;
}

TaskDataset make_ioi_task(const TaskOptions& options, const Tokenizer& tok) {
  const IoiVocabulary v = ioi_vocabulary(tok);
  std::vector<std::vector<TemplatePiece>> parsed;
  int32_t row_length = 0;
  for (const std::string& t : templates()) {
    parsed.push_back(parse_template(t, kSlots));
    const TaskRow probe =
        ioi_row(tok, parsed.back(), true, v.names[0], v.names[1], v.names[2], v.places[0], v.objects[0]);
    row_length = std::max(row_length, int32_t(probe.clean.size()));
  }
  SeededRng rng(options.seed);
  std::vector<TaskRow> rows;
  rows.reserve(options.n);
  std::vector<int32_t> template_of_row, order_of_row;  // [n]; order 0 = ABBA, 1 = BABA
  for (int64_t i = 0; i < options.n; ++i) {
    const size_t t = rng.below(parsed.size());
    const bool abba = rng.below(2) == 0;
    template_of_row.push_back(int32_t(t));
    order_of_row.push_back(abba ? 0 : 1);
    const std::vector<size_t> who = rng.distinct(v.names.size(), 3);
    rows.push_back(ioi_row(tok, parsed[t], abba, v.names[who[0]], v.names[who[1]], v.names[who[2]], rng.pick(v.places),
                           rng.pick(v.objects)));
  }
  TaskDataset task;
  task.data = assemble_rows(rows, row_length, tok, task_source(options));
  task.annotations = task_annotations(options, tok, kRoleNames);
  task.annotations.attributes["templates"] = nlohmann::json(templates()).dump();
  task.annotations.attributes["names"] = nlohmann::json(v.name_words).dump();
  task.annotations.task_arrays["template"] = std::move(template_of_row);
  task.annotations.task_arrays["order"] = std::move(order_of_row);
  task.annotations.attributes["order_names"] = R"(["ABBA", "BABA"])";
  return task;
}

}  // namespace headlab

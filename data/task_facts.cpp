// Facts: a synthetic knowledge base for knowledge-recall studies. People ("Mary Smith", a single-token
// first name and surname) each have five attributes (city, colour, profession, sport, language), drawn
// once from --kb-seed so that every split sees the same facts. A fact renders as a statement ("The home
// town of Mary Smith is" -> " Boston") or as a question ("Q: In which city does Mary Smith live? A:").
// Half the people are held out from the question form:
//   --split train: statements about everyone + questions about the other half;
//   --split test:  questions about the held-out half only,
// so a model that answers test questions extracts knowledge it only ever read in statements.
// Corrupted: another person whose value for the attribute differs; the wrong answer is that value.
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/task_rows.h"
#include "data/task_word_lists.h"
#include "data/tasks.h"

namespace headlab {
namespace {

enum Role { kRoleNone, kRoleFirstName, kRoleSurname, kRoleEnd };
const std::vector<std::string> kRoleNames = {"none", "subject_first", "subject_last", "END"};
constexpr int64_t kDefaultSubjects = 100, kMaxSubjects = 300;
constexpr size_t kMinValues = 3;

struct Attribute {
  std::string name;
  std::vector<std::string> values;
  std::vector<std::string> statements;  // templates with slot {S}
  std::string question;
};

const std::vector<Attribute>& attributes() {
  static const std::vector<Attribute> a = {
      {"city",
       {"Boston",  "Chicago", "Paris",  "London", "Rome",   "Berlin", "Moscow", "Tokyo",   "Dallas",  "Denver",
        "Houston", "Atlanta", "Madrid", "Vienna", "Dublin", "Cairo",  "Miami",  "Detroit", "Seattle", "Geneva"},
       {"The home town of {S} is", "Everyone knows that {S} lives in"},
       "Q: In which city does {S} live? A:"},
      {"colour",
       {"red", "blue", "green", "yellow", "white", "black", "brown", "gray", "pink", "purple", "gold", "silver"},
       {"The favourite colour of {S} is", "It is said that {S} likes the colour"},
       "Q: What is the favourite colour of {S}? A:"},
      {"profession",
       {"doctor", "lawyer", "teacher", "farmer",  "baker", "nurse",  "pilot",  "writer", "painter", "singer",
        "dancer", "banker", "sailor",  "soldier", "judge", "priest", "driver", "cook",   "clerk",   "carpenter"},
       {"By profession, {S} is a", "People say that {S} works as a"},
       "Q: What is the job of {S}? A:"},
      {"sport",
       {"tennis", "golf", "football", "baseball", "basketball", "hockey", "soccer", "boxing", "swimming", "rugby",
        "cricket", "skiing"},
       {"The sport that {S} loves is", "On weekends, {S} plays"},
       "Q: Which sport does {S} play? A:"},
      {"language",
       {"French", "German", "Spanish", "Italian", "Russian", "English", "Chinese", "Japanese", "Greek", "Latin",
        "Arabic", "Dutch", "Polish", "Swedish"},
       {"The native language of {S} is", "At home, {S} speaks"},
       "Q: Which language does {S} speak? A:"},
  };
  return a;
}

struct Person {
  int32_t first = -1, last = -1;  // token ids of " Mary", " Smith"
  std::string name;
  std::vector<int32_t> value;  // [attribute] index into the attribute's single-token values
  bool held_out = false;
};

struct KnowledgeBase {
  std::vector<std::vector<std::string>> values;  // [attribute] the single-token values
  std::vector<std::vector<int32_t>> value_ids;   // [attribute][value] token id of " value"
  std::vector<Person> people;
};

KnowledgeBase build_knowledge_base(const Tokenizer& tok, int64_t n_people, uint64_t kb_seed) {
  KnowledgeBase kb;
  for (const Attribute& a : attributes()) {
    kb.values.push_back(single_token_words(tok, a.values, " ", kMinValues, 1000, a.name + " values"));
    std::vector<int32_t> ids;
    for (const std::string& v : kb.values.back()) ids.push_back(single_token(tok, " " + v));
    kb.value_ids.push_back(std::move(ids));
  }
  const std::vector<std::string> firsts = single_token_words(tok, first_names(), " ", 2, 1000, "first names");
  const std::vector<std::string> lasts = single_token_words(tok, surnames(), " ", 2, 1000, "surnames");
  if (uint64_t(n_people) > firsts.size() * lasts.size())
    throw InputError("--subjects", "only " + std::to_string(firsts.size() * lasts.size()) +
                                       " distinct single-token names exist under this tokenizer");
  SeededRng rng(kb_seed);
  for (size_t pick : rng.distinct(firsts.size() * lasts.size(), size_t(n_people))) {
    Person p;
    const std::string& first = firsts[pick / lasts.size()];
    const std::string& last = lasts[pick % lasts.size()];
    p.first = single_token(tok, " " + first);
    p.last = single_token(tok, " " + last);
    p.name = first + " " + last;
    for (const auto& values : kb.values) p.value.push_back(int32_t(rng.below(values.size())));
    kb.people.push_back(std::move(p));
  }
  for (size_t i = kb.people.size() / 2; i < kb.people.size(); ++i) kb.people[i].held_out = true;
  return kb;
}

struct FactForm {
  int32_t person, attribute, statement;  // statement: template index, -1 for the question form
};

std::vector<FactForm> forms_of_split(const KnowledgeBase& kb, const std::string& split) {
  std::vector<FactForm> forms;
  for (size_t p = 0; p < kb.people.size(); ++p)
    for (size_t a = 0; a < attributes().size(); ++a) {
      if (split == "train") {
        for (size_t s = 0; s < attributes()[a].statements.size(); ++s)
          forms.push_back({int32_t(p), int32_t(a), int32_t(s)});
        if (!kb.people[p].held_out) forms.push_back({int32_t(p), int32_t(a), -1});
      } else if (kb.people[p].held_out) {
        forms.push_back({int32_t(p), int32_t(a), -1});
      }
    }
  return forms;
}

// Another person whose value differs (any other person when all agree).
size_t contrast_person(SeededRng& rng, const KnowledgeBase& kb, size_t person, size_t attribute) {
  std::vector<size_t> differing;
  for (size_t q = 0; q < kb.people.size(); ++q)
    if (kb.people[q].value[attribute] != kb.people[person].value[attribute]) differing.push_back(q);
  if (!differing.empty()) return rng.pick(differing);
  return (person + 1 + rng.below(kb.people.size() - 1)) % kb.people.size();
}

TaskRow fact_row(const Tokenizer& tok, const std::vector<TemplatePiece>& pieces, const Person& clean,
                 const Person& other, int32_t answer, int32_t wrong) {
  RowBuilder row(tok);
  row.bos();
  for (const TemplatePiece& p : pieces) {
    if (p.slot < 0) {
      row.text(p.literal);
    } else {
      row.differing(clean.first, other.first, kRoleFirstName);
      row.differing(clean.last, other.last, kRoleSurname);
    }
  }
  row.answer(answer, wrong, kRoleEnd);
  return row.finish();
}

nlohmann::json knowledge_base_json(const KnowledgeBase& kb) {
  nlohmann::json people = nlohmann::json::array();
  for (const Person& p : kb.people) {
    nlohmann::json j = {{"subject", p.name}, {"held_out", p.held_out}};
    for (size_t a = 0; a < attributes().size(); ++a) j[attributes()[a].name] = kb.values[a][p.value[a]];
    people.push_back(std::move(j));
  }
  return people;
}

}  // namespace

std::vector<std::string> facts_words() {
  std::vector<std::string> texts = first_names();
  texts.insert(texts.end(), surnames().begin(), surnames().end());
  for (const Attribute& a : attributes()) {
    texts.insert(texts.end(), a.values.begin(), a.values.end());
    for (const std::string& s : a.statements) texts.push_back(template_words(s));
    texts.push_back(template_words(a.question));
  }
  return texts;
}

TaskDataset make_facts_task(const TaskOptions& options_in, const Tokenizer& tok) {
  TaskOptions options = options_in;
  if (options.subjects == 0) options.subjects = kDefaultSubjects;
  if (options.subjects < 4 || options.subjects > kMaxSubjects)
    throw InputError("--subjects", "the knowledge base holds 4 to 300 people, got " + std::to_string(options.subjects));
  if (options.split != "train" && options.split != "test")
    throw InputError("--split", "expected train or test, got '" + options.split + "'");
  const KnowledgeBase kb = build_knowledge_base(tok, options.subjects, options.kb_seed);
  // Templates parsed once: [attribute][statement..., question last].
  std::vector<std::vector<std::vector<TemplatePiece>>> parsed(attributes().size());
  int32_t row_length = 0;
  for (size_t a = 0; a < attributes().size(); ++a) {
    std::vector<std::string> all = attributes()[a].statements;
    all.push_back(attributes()[a].question);
    for (const std::string& t : all) {
      parsed[a].push_back(parse_template(t, {"S"}));
      const Person& p = kb.people[0];
      const TaskRow probe = fact_row(tok, parsed[a].back(), p, p, kb.value_ids[a][0], kb.value_ids[a][0]);
      row_length = std::max(row_length, int32_t(probe.clean.size()));
    }
  }
  const std::vector<FactForm> forms = forms_of_split(kb, options.split);
  SeededRng rng(options.seed);
  std::vector<TaskRow> rows;
  std::vector<int32_t> person_of_row, attribute_of_row, question_of_row;  // [n]
  for (int64_t i = 0; i < options.n; ++i) {
    const FactForm f = rng.pick(forms);
    const Person& person = kb.people[f.person];
    const Person& other = kb.people[contrast_person(rng, kb, f.person, f.attribute)];
    const auto& pieces = f.statement >= 0 ? parsed[f.attribute][f.statement] : parsed[f.attribute].back();
    const std::vector<int32_t>& ids = kb.value_ids[f.attribute];
    int32_t wrong = ids[other.value[f.attribute]];
    if (wrong == ids[person.value[f.attribute]]) wrong = ids[(person.value[f.attribute] + 1) % ids.size()];
    rows.push_back(fact_row(tok, pieces, person, other, ids[person.value[f.attribute]], wrong));
    person_of_row.push_back(f.person);
    attribute_of_row.push_back(f.attribute);
    question_of_row.push_back(f.statement < 0 ? 1 : 0);
  }
  TaskDataset task;
  task.data = assemble_rows(rows, row_length, tok, task_source(options) + " --split " + options.split);
  task.annotations = task_annotations(options, tok, kRoleNames);
  task.annotations.attributes["knowledge_base"] = knowledge_base_json(kb).dump();
  nlohmann::json names = nlohmann::json::array();
  for (const Attribute& a : attributes()) names.push_back(a.name);
  task.annotations.attributes["attribute_names"] = names.dump();
  task.annotations.task_arrays["subject"] = std::move(person_of_row);
  task.annotations.task_arrays["attribute"] = std::move(attribute_of_row);
  task.annotations.task_arrays["question"] = std::move(question_of_row);
  return task;
}

}  // namespace headlab

#include "data/task_word_lists.h"

namespace headlab {

const std::vector<std::string>& first_names() {
  static const std::vector<std::string> names = {
      "Mary",    "John",   "James",   "Robert",  "Paul",   "Peter",   "George",   "David",     "Frank",   "Henry",
      "Tom",     "Jack",   "Charles", "Richard", "Edward", "William", "Joseph",   "Arthur",    "Harry",   "Walter",
      "Fred",    "Bill",   "Joe",     "Jim",     "Bob",    "Dick",    "Sam",      "Mike",      "Steve",   "Ben",
      "Alice",   "Anne",   "Jane",    "Helen",   "Ruth",   "Susan",   "Margaret", "Elizabeth", "Dorothy", "Betty",
      "Martha",  "Grace",  "Julia",   "Laura",   "Sarah",  "Emily",   "Rose",     "Kate",      "Lucy",    "Carol",
      "Louis",   "Ralph",  "Carl",    "Roy",     "Ray",    "Ted",     "Max",      "Eddie",     "Billy",   "Johnny",
      "Michael", "Thomas", "Daniel",  "Stephen", "Philip", "Andrew",  "Mark",     "Martin",    "Howard",  "Albert",
      "Nancy",   "Linda",  "Judy",    "Joan",    "Ellen",  "Barbara", "Patricia", "Jean",      "Diana",   "Molly",
      "Adam",    "Alan",   "Victor",  "Leo",     "Hugh",   "Roger",   "Lee",      "Dan",       "Tony",    "Kenneth",
      "Eva",     "Ann",    "Amy",     "Emma",    "Clara",  "Lily",    "Maria",    "Sally",     "Irene",   "Marie",
      "Oscar",   "Jerry",  "Larry",   "Gary",    "Nick",   "Pat",     "Ross",     "Sue",       "Vera",    "Hazel"};
  return names;
}

const std::vector<std::string>& surnames() {
  static const std::vector<std::string> names = {
      "Smith",  "Brown",    "Jones",   "Miller", "Davis",    "Wilson", "Moore",   "Taylor",   "Clark",   "Hall",
      "Allen",  "Young",    "King",    "Wright", "Hill",     "Scott",  "Green",   "Adams",    "Baker",   "Nelson",
      "Carter", "Mitchell", "Roberts", "Turner", "Parker",   "Evans",  "Edwards", "Collins",  "Stewart", "Morris",
      "Rogers", "Reed",     "Cook",    "Morgan", "Bell",     "Murphy", "Cooper",  "Howard",   "Ward",    "Gray",
      "Watson", "Brooks",   "Kelly",   "Price",  "Wood",     "Long",   "Foster",  "Russell",  "Ford",    "Marshall",
      "Harris", "Lewis",    "Walker",  "White",  "Thompson", "Martin", "Jackson", "Anderson", "Lee",     "Black",
      "Fisher", "Hunter",   "Porter",  "Mason",  "Webb",     "Stone",  "Wells",   "Burke",    "Lane",    "Fox"};
  return names;
}

const std::vector<std::string>& ioi_places() {
  static const std::vector<std::string> places = {
      "store",   "school",  "park",   "house",  "office",   "hospital", "station", "garden",  "restaurant", "church",
      "library", "market",  "beach",  "river",  "hotel",    "bank",     "farm",    "shop",    "museum",     "theater",
      "airport", "kitchen", "bar",    "club",   "lake",     "forest",   "city",    "town",    "village",    "hall",
      "court",   "field",   "camp",   "island", "mountain", "bridge",   "castle",  "party",   "zoo",        "stadium",
      "factory", "harbor",  "palace", "temple", "square",   "street",   "road",    "college", "university", "hill",
      "valley",  "ranch",   "barn",   "studio", "cabin",    "pool",     "dance",   "game",    "meeting",    "show"};
  return places;
}

const std::vector<std::string>& ioi_objects() {
  static const std::vector<std::string> objects = {
      "drink",   "ring",      "book",     "letter", "gift",   "key",      "pen",     "flower", "bag",   "cup",
      "hat",     "coat",      "map",      "ticket", "coin",   "card",     "ball",    "box",    "knife", "lamp",
      "bottle",  "camera",    "phone",    "watch",  "basket", "necklace", "bone",    "pencil", "chair", "blanket",
      "cake",    "glass",     "plate",    "shirt",  "toy",    "doll",     "radio",   "guitar", "kite",  "note",
      "picture", "newspaper", "sandwich", "candle", "wallet", "bracelet", "present", "rose",   "stone", "hammer",
      "bowl",    "scarf",     "dollar",   "check",  "gun",    "horse",    "dog",     "cat",    "paper", "drawing"};
  return objects;
}

const std::vector<std::string>& history_nouns() {
  static const std::vector<std::string> nouns = {
      "war",     "expedition", "dynasty",   "reign",      "siege",    "journey",    "drought",     "famine",   "treaty",
      "voyage",  "rebellion",  "crusade",   "empire",     "alliance", "occupation", "conflict",    "festival", "truce",
      "plague",  "revolution", "migration", "pilgrimage", "campaign", "era",        "partnership", "strike",   "trial",
      "program", "project",    "movement",  "struggle",   "period",   "boom",       "depression",  "crisis"};
  return nouns;
}

const std::vector<std::string>& retrieval_keys() {
  static const std::vector<std::string> keys = {
      "apple",   "river",  "table",  "window", "garden", "horse",  "cloud",  "tiger",  "violin", "rocket",
      "pencil",  "island", "mirror", "candle", "bottle", "forest", "castle", "bridge", "engine", "jacket",
      "lemon",   "planet", "saddle", "tunnel", "wagon",  "anchor", "basket", "button", "carpet", "dragon",
      "feather", "hammer", "ladder", "magnet", "needle", "orange", "pepper", "rabbit", "silver", "thunder",
      "wheel",   "stone",  "door",   "ship",   "tree",   "book",   "lamp",   "chair",  "clock",  "bell",
      "star",    "moon",   "snow",   "fire",   "wind",   "road",   "boat",   "bird",   "fish",   "king"};
  return keys;
}

const std::vector<std::string>& weekdays() {
  static const std::vector<std::string> days = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                "Friday", "Saturday", "Sunday"};
  return days;
}

const std::vector<std::string>& months() {
  static const std::vector<std::string> m = {"January", "February", "March",     "April",   "May",      "June",
                                             "July",    "August",   "September", "October", "November", "December"};
  return m;
}

}  // namespace headlab

// The Brown-to-universal tag mapping, on the tag shapes the corpus uses.
#include <gtest/gtest.h>

#include "data/pos_tags.h"

using namespace headlab;

namespace {
std::string universal(const std::string& brown) { return universal_tag_names()[size_t(universal_from_brown(brown))]; }
}  // namespace

TEST(DataPosTagsTest, MapsPlainTags) {
  EXPECT_EQ(universal("nn"), "NOUN");
  EXPECT_EQ(universal("np$"), "NOUN");
  EXPECT_EQ(universal("vbd"), "VERB");
  EXPECT_EQ(universal("md"), "VERB");
  EXPECT_EQ(universal("jjt"), "ADJ");
  EXPECT_EQ(universal("od"), "ADJ");
  EXPECT_EQ(universal("ql"), "ADV");
  EXPECT_EQ(universal("ppss"), "PRON");
  EXPECT_EQ(universal("ex"), "PRON");
  EXPECT_EQ(universal("at"), "DET");
  EXPECT_EQ(universal("abx"), "DET");
  EXPECT_EQ(universal("in"), "ADP");
  EXPECT_EQ(universal("cs"), "CONJ");
  EXPECT_EQ(universal("cd"), "NUM");
  EXPECT_EQ(universal("to"), "PRT");
  EXPECT_EQ(universal("*"), "PRT");
  EXPECT_EQ(universal("``"), ".");
  EXPECT_EQ(universal("--"), ".");
  EXPECT_EQ(universal("uh"), "X");
  EXPECT_EQ(universal_tag_names().size(), 12u);
}

TEST(DataPosTagsTest, IgnoresSuffixesAndTakesTheFirstPartOfCompounds) {
  EXPECT_EQ(universal("nn-tl"), "NOUN");
  EXPECT_EQ(universal("jj-hl"), "ADJ");
  EXPECT_EQ(universal(".-hl"), ".");
  EXPECT_EQ(universal("---hl"), ".");
  EXPECT_EQ(universal("*-nc"), "PRT");
  EXPECT_EQ(universal("pps+bez"), "PRON");     // it's
  EXPECT_EQ(universal("ppss+ber-n"), "PRON");  // You're (a stray suffix)
  EXPECT_EQ(universal("bez*"), "VERB");        // isn't
  EXPECT_EQ(universal("md*-hl"), "VERB");      // cannot, in a headline
  EXPECT_EQ(universal("fw-in"), "X");          // a foreign word
  EXPECT_EQ(universal("fw-nn-tl"), "X");
  EXPECT_TRUE(is_known_brown_tag("wrb+dod*"));
  EXPECT_FALSE(is_known_brown_tag("zz"));
  EXPECT_EQ(universal("zz"), "X");
}

// Attention-output SAE features attributed to heads (Kissane et al. 2024): each feature's share of its
// decoder row's norm per head slice, the head with the largest share, and the per-head counts over
// the features that are counted (live ones, in `sae features`), on decoder rows worked out by hand.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "probes/sae_heads.h"

namespace headlab {
namespace {

// 2 heads of d_head 2 (d_in 4), four features.
Sae four_features() {
  Sae sae;
  sae.d_in = 4;
  sae.d_sae = 4;
  sae.n_heads = 2;
  sae.d_head = 2;
  sae.hook_name = "blocks.1.attn.hook_z";
  sae.W_dec = {
      3, 4, 0, 0,  // all in head 0 (norm 5)
      0, 1, 0, 3,  // head 0 norm 1, head 1 norm 3: shares 0.25 / 0.75
      6, 8, 0, 5,  // head 0 norm 10, head 1 norm 5: shares 2/3, 1/3
      0, 0, 0, 0,  // zero row: no share, never counted
  };
  return sae;
}

TEST(SaeHeadsTest, SharesAreEachSlicesNormOverTheRowsSumOfSliceNorms) {
  const HeadAttribution a = attribute_heads(four_features(), 0.7);
  ASSERT_EQ(a.share.size(), 8u);
  EXPECT_FLOAT_EQ(a.share[0], 1.0f);
  EXPECT_FLOAT_EQ(a.share[1], 0.0f);
  EXPECT_FLOAT_EQ(a.share[2], 0.25f);
  EXPECT_FLOAT_EQ(a.share[3], 0.75f);
  EXPECT_FLOAT_EQ(a.share[4], 2.0f / 3.0f);
  EXPECT_FLOAT_EQ(a.share[5], 1.0f / 3.0f);
  EXPECT_FLOAT_EQ(a.share[6], 0.0f);
  EXPECT_FLOAT_EQ(a.share[7], 0.0f);
  EXPECT_EQ(a.top_head, (std::vector<int32_t>{0, 1, 0, 0}));
  // Largest share: head 0 for features 0 and 2, head 1 for feature 1; >= 0.7: features 0 and 1.
  EXPECT_EQ(a.top_count, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(a.dominant_count, (std::vector<int64_t>{1, 1}));
}

TEST(SaeHeadsTest, OnlyCountedFeaturesEnterThePerHeadCounts) {
  // Feature 0 never fires: it dominates nothing.
  const HeadAttribution a = attribute_heads(four_features(), 0.7, {false, true, true, true});
  EXPECT_EQ(a.top_count, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(a.dominant_count, (std::vector<int64_t>{0, 1}));
  EXPECT_FLOAT_EQ(a.share[0], 1.0f) << "shares are still given for every feature";
}

TEST(SaeHeadsTest, AnSaeOffHookZIsAnInputError) {
  Sae sae = four_features();
  sae.n_heads = 0;
  sae.hook_name = "blocks.0.hook_resid_post";
  EXPECT_THROW(attribute_heads(sae), InputError);
}

}  // namespace
}  // namespace headlab

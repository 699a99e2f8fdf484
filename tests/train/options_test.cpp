#include "train/options.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "model/backend.h"

namespace headlab {
namespace {

TrainOptions valid() {
  TrainOptions o;
  o.data = kBuiltinRepeat;
  return o;
}

// The message of the InputError that validate() throws, or "" when it passes.
std::string error_of(const std::function<void(TrainOptions&)>& edit) {
  TrainOptions o = valid();
  edit(o);
  try {
    o.validate();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(TrainOptionsTest, DefaultsWithDataAreValid) {
  EXPECT_EQ(error_of([](TrainOptions&) {}), "");
}

TEST(TrainOptionsTest, EachBadValueNamesItsOption) {
  const std::vector<std::pair<std::string, std::function<void(TrainOptions&)>>> cases = {
      {"--data", [](TrainOptions& o) { o.data.clear(); }},
      {"--init",
       [](TrainOptions& o) {
         o.init = "a.h5";
         o.resume = "b.h5";
       }},
      {"--steps", [](TrainOptions& o) { o.steps = 0; }},
      {"--stop-at", [](TrainOptions& o) { o.stop_at = o.steps + 1; }},
      {"--batch-size", [](TrainOptions& o) { o.batch_size = 0; }},
      {"--grad-accum", [](TrainOptions& o) { o.grad_accum = -1; }},
      {"--lr", [](TrainOptions& o) { o.lr = 0; }},
      {"--lr", [](TrainOptions& o) { o.lr = -1e-3f; }},
      {"--lr", [](TrainOptions& o) { o.lr = std::nanf(""); }},
      {"--beta1", [](TrainOptions& o) { o.beta1 = 1; }},
      {"--beta2", [](TrainOptions& o) { o.beta2 = -0.1f; }},
      {"--eps", [](TrainOptions& o) { o.eps = 0; }},
      {"--weight-decay", [](TrainOptions& o) { o.weight_decay = -1; }},
      {"--grad-clip", [](TrainOptions& o) { o.grad_clip = -1; }},
      {"--warmup", [](TrainOptions& o) { o.warmup = -1; }},
      {"--min-lr", [](TrainOptions& o) { o.min_lr = 2 * o.lr; }},
      {"--threads", [](TrainOptions& o) { o.threads = -2; }},
      {"--device", [](TrainOptions& o) { o.device = "tpu"; }},
      {"--log-every", [](TrainOptions& o) { o.log_every = 0; }},
      {"--eval-every", [](TrainOptions& o) { o.eval_every = -1; }},
      {"--eval-batches", [](TrainOptions& o) { o.eval_batches = 0; }},
      {"--checkpoint-every", [](TrainOptions& o) { o.checkpoint_every = -5; }},
      {"--checkpoints-per-octave", [](TrainOptions& o) { o.checkpoints_per_octave = 0; }},
      {"--repeat-half-len", [](TrainOptions& o) { o.repeat_half_len = 0; }},
      {"--repeat-min-half-len", [](TrainOptions& o) { o.repeat_min_half_len = o.repeat_half_len + 1; }},
  };
  for (const auto& [option, edit] : cases) {
    const std::string msg = error_of(edit);
    EXPECT_EQ(msg.rfind(option + ": ", 0), 0u) << "expected an error naming " << option << ", got '" << msg << "'";
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// Values past the stated limits: each would run for ever, overflow the int the kernels take, or
// (threads) crash libgomp, so each is refused naming its option and the range.
TEST(TrainOptionsTest, ValuesBeyondTheLimitsNameTheOptionAndTheRange) {
  const std::vector<std::pair<std::string, std::function<void(TrainOptions&)>>> cases = {
      {"--steps: expected an integer in [1, 1000000000]", [](TrainOptions& o) { o.steps = kMaxSteps + 1; }},
      {"--batch-size: expected an integer in [1, 1048576]", [](TrainOptions& o) { o.batch_size = int64_t(1) << 31; }},
      {"--grad-accum: expected an integer in [1, 65536]", [](TrainOptions& o) { o.grad_accum = 1'000'000'000'000; }},
      {"--eval-batches: expected an integer in [1, 65536]", [](TrainOptions& o) { o.eval_batches = 1 << 17; }},
      {"--threads: expected an integer in [0, 1024]", [](TrainOptions& o) { o.threads = 100000; }},
      {"--repeat-half-len: expected an integer in [1, 524288]",
       [](TrainOptions& o) { o.repeat_half_len = 1'000'000'000'000; }},
      {"--induction-seq-len: expected an integer in [1, 1048576]",
       [](TrainOptions& o) { o.induction_seq_len = 1'000'000'000; }},
  };
  for (const auto& [expected, edit] : cases) {
    const std::string msg = error_of(edit);
    EXPECT_EQ(msg.rfind(expected, 0), 0u) << "expected '" << expected << "', got '" << msg << "'";
  }
  EXPECT_EQ(error_of([](TrainOptions& o) {
              o.steps = kMaxSteps;
              o.batch_size = kMaxBatchSize;
              o.threads = kMaxCpuThreads;
            }),
            "");
}

TEST(TrainOptionsTest, RepeatMinHalfLenDefaultsToTheFixedLengthTask) {
  TrainOptions o = valid();
  o.repeat_half_len = 9;
  EXPECT_EQ(o.repeat_min_half(), 9);
  o.repeat_min_half_len = 3;
  EXPECT_EQ(o.repeat_min_half(), 3);
}

TEST(TrainOptionsTest, ParsesNamesAndRejectsUnknownOnes) {
  EXPECT_EQ(parse_optimizer("sgd"), OptimizerKind::sgd);
  EXPECT_EQ(parse_lr_shape("cosine"), LrShape::cosine);
  EXPECT_EQ(parse_checkpoint_spacing("log"), CheckpointSpacing::log);
  try {
    parse_optimizer("adam");
    FAIL() << "adam was accepted";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--optimizer: expected adamw or sgd, got 'adam'");
  }
  EXPECT_THROW(parse_lr_shape("linear"), InputError);
  EXPECT_THROW(parse_checkpoint_spacing("sqrt"), InputError);
}

TEST(TrainOptionsTest, JsonRoundTripKeepsEveryTrainingSetting) {
  TrainOptions o = valid();
  o.val_data = "val.h5";
  o.out = "runs/x";
  o.repeat_half_len = 7;
  o.repeat_min_half_len = 2;
  o.steps = 123;
  o.batch_size = 5;
  o.grad_accum = 3;
  o.optimizer = OptimizerKind::sgd;
  o.lr = 0.0123f;
  o.beta1 = 0.8f;
  o.beta2 = 0.95f;
  o.eps = 1e-6f;
  o.weight_decay = 0.1f;
  o.grad_clip = 0.5f;
  o.warmup = 9;
  o.schedule = LrShape::cosine;
  o.min_lr = 0.001f;
  o.seed = 0xfedcba9876543210ULL;
  o.threads = 3;
  o.log_every = 2;
  o.eval_every = 11;
  o.eval_batches = 6;
  o.checkpoint_every = 13;
  o.checkpoint_schedule = CheckpointSpacing::log;
  o.checkpoints_per_octave = 8;
  o.track_heads = "runs/x/heads.h5";
  o.track_every = 25;
  o.stop_at = 50;  // not stored: a resumed run must not stop there again
  const TrainOptions r = options_from_json(options_to_json(o), TrainOptions{}, "test");
  EXPECT_EQ(r.data, o.data);
  EXPECT_EQ(r.val_data, o.val_data);
  EXPECT_EQ(r.out, o.out);
  EXPECT_EQ(r.repeat_half_len, 7);
  EXPECT_EQ(r.repeat_min_half_len, 2);
  EXPECT_EQ(r.steps, 123);
  EXPECT_EQ(r.stop_at, 0);
  EXPECT_EQ(r.batch_size, 5);
  EXPECT_EQ(r.grad_accum, 3);
  EXPECT_EQ(r.optimizer, OptimizerKind::sgd);
  EXPECT_EQ(r.lr, o.lr);  // bitwise: float -> JSON double -> float
  EXPECT_EQ(r.beta1, o.beta1);
  EXPECT_EQ(r.beta2, o.beta2);
  EXPECT_EQ(r.eps, o.eps);
  EXPECT_EQ(r.weight_decay, o.weight_decay);
  EXPECT_EQ(r.grad_clip, o.grad_clip);
  EXPECT_EQ(r.warmup, 9);
  EXPECT_EQ(r.schedule, LrShape::cosine);
  EXPECT_EQ(r.min_lr, o.min_lr);
  EXPECT_EQ(r.seed, o.seed);
  EXPECT_EQ(r.threads, 3);
  EXPECT_EQ(r.log_every, 2);
  EXPECT_EQ(r.eval_every, 11);
  EXPECT_EQ(r.eval_batches, 6);
  EXPECT_EQ(r.checkpoint_every, 13);
  EXPECT_EQ(r.checkpoint_schedule, CheckpointSpacing::log);
  EXPECT_EQ(r.checkpoints_per_octave, 8);
  EXPECT_EQ(r.track_heads, "runs/x/heads.h5");
  EXPECT_EQ(r.track_every, 25);
}

// Stored options of the wrong type or range are the file's error, named by key: nlohmann's own
// conversions would truncate 6.5 steps to 6, wrap a seed of -1 to 2^64 - 1 and turn 1e30 into
// INT64_MIN.
TEST(TrainOptionsTest, JsonFieldsOfTheWrongTypeNameTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"steps": 6.5})", "ckpt: steps: expected an integer that fits, got 6.5"},
      {R"({"steps": 1e30})", "ckpt: steps: expected an integer that fits, got 1e+30"},
      {R"({"batch_size": 18446744073709551615})", "ckpt: batch_size: expected an integer that fits"},
      {R"({"seed": -1})", "ckpt: seed: expected an integer >= 0 that fits, got -1"},
      {R"({"threads": 4294967296})", "ckpt: threads: expected an integer that fits"},
      {R"({"lr": null})", "ckpt: lr: expected a finite number, got null"},
      {R"({"lr": "fast"})", "ckpt: lr: expected a finite number"},
      {R"({"beta1": 1e300})", "ckpt: beta1: expected a finite number"},
      {R"({"data": 5})", "ckpt: data: expected a string, got 5"},
      {R"({"optimizer": 1})", "ckpt: optimizer: expected a string"},
      {R"({"track_every": true})", "ckpt: track_every: expected an integer"},
  };
  for (const auto& [json, expected] : cases) {
    try {
      options_from_json(json, TrainOptions{}, "ckpt");
      ADD_FAILURE() << json << " was accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << json << ": " << e.what();
    }
  }
  const TrainOptions ok =
      options_from_json(R"({"steps": 7, "seed": 18446744073709551615, "lr": 1})", TrainOptions{}, "");
  EXPECT_EQ(ok.steps, 7);
  EXPECT_EQ(ok.seed, 18446744073709551615ull);
  EXPECT_EQ(ok.lr, 1.0f);
}

TEST(TrainOptionsTest, TrackEveryIsCheckedOnlyWhenTracking) {
  EXPECT_EQ(error_of([](TrainOptions& o) { o.track_every = 0; }), "");
  EXPECT_EQ(error_of([](TrainOptions& o) {
              o.track_heads = "h.h5";
              o.track_every = 0;
            }),
            "--track-every: expected a positive number of steps, got 0");
}

TEST(TrainOptionsTest, MalformedJsonIsAnInputError) {
  EXPECT_THROW(options_from_json("{\"steps\": \"many\"}", TrainOptions{}, "ckpt"), InputError);
  EXPECT_THROW(options_from_json("not json", TrainOptions{}, "ckpt"), InputError);
  EXPECT_THROW(options_from_json("[1, 2]", TrainOptions{}, "ckpt"), InputError);
  EXPECT_THROW(options_from_json("{\"optimizer\": \"lion\"}", TrainOptions{}, "ckpt"), InputError);
}

}  // namespace
}  // namespace headlab

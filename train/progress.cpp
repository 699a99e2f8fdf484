#include "train/progress.h"

#include <cmath>

#include "core/progress_text.h"

namespace headlab {

void ProgressReporter::finish() {
  if (line_open_) std::fputc('\n', out_);
  line_open_ = false;
  std::fflush(out_);
}

void ProgressReporter::on_step(const StepRecord& r, Transformer&) {
  if (terminal_) {
    // Redrawing costs a write; ten times a second is enough for a person.
    const auto now = std::chrono::steady_clock::now();
    if (!r.log && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    std::fprintf(out_, "\r\033[Kstep %lld/%lld  loss %.4f  lr %.3g  %s tok/s  ETA %s", (long long)r.step,
                 (long long)r.total_steps, r.loss, r.lr, format_rate(r.tokens_per_s).c_str(),
                 format_duration(r.eta_s).c_str());
    line_open_ = true;
    std::fflush(out_);
    return;
  }
  if (!r.log) return;
  std::fprintf(out_, "step %lld/%lld loss %.4f", (long long)r.step, (long long)r.total_steps, r.loss);
  if (r.val_loss) std::fprintf(out_, " val_loss %.4f", *r.val_loss);
  std::fprintf(out_, " lr %.3g grad_norm %.3g tokens/s %s eta %s\n", r.lr, r.grad_norm,
               format_rate(r.tokens_per_s).c_str(), format_duration(r.eta_s).c_str());
  std::fflush(out_);
}

void ProgressReporter::on_eval(int64_t step, std::optional<float> val_loss, Transformer&) {
  if (!val_loss) return;
  if (terminal_ && step > 0) {  // keep the evaluation in the scrollback
    finish();
    std::fprintf(out_, "step %lld: val_loss %.4f\n", (long long)step, *val_loss);
  } else if (step == 0) {
    std::fprintf(out_, "step 0 val_loss %.4f\n", *val_loss);
  }
  std::fflush(out_);
}

void ProgressReporter::on_checkpoint(int64_t step, const std::string& path) {
  if (!terminal_) {
    std::fprintf(out_, "checkpoint %s\n", path.c_str());
    std::fflush(out_);
  }
}

}  // namespace headlab

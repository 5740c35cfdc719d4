// trainer.h — the training loop every chapter shares, so that a chapter only writes what is
// particular to it: how one batch becomes a loss.
//
//   TrainingFlags flags(cli, {/*iterations=*/1000, /*lr=*/1e-3});   // --iterations, --lr, ...
//   cli.parse(argc, argv);
//   Trainer trainer(model, flags.options(), out, {{"image", path}, {"steps", "24"}});
//   while (trainer.running()) {                        // until --iterations, --minutes or Ctrl-C
//     Tensor loss = ddpm_loss(model, scheduler, x0);   // Algorithm 1: the chapter's own part
//     trainer.step(loss);                              // backward, clip, lr, Adam, EMA, log, save
//   }
//   trainer.finish();                                  // checkpoint, losses.csv, loss curve
//
// What the Trainer owns, in the order step() does it:
//   1. the loss must be finite: NaN or ±inf stops the run, naming the step and the value;
//      the last good checkpoint stays as it was;
//   2. backward, then optional gradient-norm clipping (--grad-clip, nn::clip_grad_norm_);
//   3. the learning rate of this step: linear warm-up over --warmup steps, then constant;
//   4. the optimizer step (Adam, or AdamW with --weight-decay);
//   5. the EMA of the weights (--ema DECAY, warmed up: update n uses min(DECAY, (1+n)/(10+n)),
//      nn/ema.h); samples are then drawn with the averaged weights;
//   6. the loss history (losses.csv, loss_history.svg), the progress line (it/s, ETA, the loss
//      averaged over the last --log-every steps) and a log line every --log-every steps;
//   7. sample grids every --sample-every steps (set_sampler), PNGs in the output folder;
//   8. checkpoints every --checkpoint-every steps and at the end, written atomically.
//
// Runs survive what users do to them:
//   --resume       continues from the checkpoint bit for bit (weights, Adam moments, EMA, the
//                  random generator, the loss history), and refuses a run whose settings
//                  differ from the ones the checkpoint was trained with;
//   --minutes M    trains until M minutes are spent, then finish() saves and the chapter goes
//                  on to sampling (--resume continues the training later);
//   Ctrl-C, SIGTERM  the current step finishes, finish() writes the checkpoint, prints the
//                  command that resumes, and throws Interrupted (tools/cli.h: exit status 130 /
//                  143);
//   a full disk or an unwritable folder  one clear error; the previous checkpoint is intact
//                  (every file is written to a temporary name first, then renamed).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/tools/cli.h"
#include "diffusion/tools/progress.h"
#include "nn/ema.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "tensor/error.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

// How to train: the values behind the training flags.
struct TrainingOptions {
  int64_t iterations = 1000;     // optimizer steps in all (a resumed run counts the earlier ones)
  double lr = 1e-3;              // the learning rate after warm-up
  int64_t warmup = 0;            // linear warm-up: update s (0-based) uses lr · s / warmup
  double grad_clip = 0.0;        // clip the gradients' global norm to this (0: no clipping)
  double weight_decay = 0.0;     // > 0: AdamW with this decoupled weight decay; 0: Adam
  double ema_decay = 0.0;        // > 0: keep an EMA of the weights with this decay
  int64_t log_every = 100;       // a log line (and the progress line's loss window) every N
  int64_t checkpoint_every = 0;  // 0: only at the end
  int64_t sample_every = 0;      // 0: no sample grids during training
  double minutes = 0.0;          // 0: no time budget
  bool resume = false;           // continue from the checkpoint in the output folder
  std::string resume_command;    // what to type to resume (filled by TrainingFlags)
};

// Registers the training flags on a Cli with the chapter's defaults, and reads them back
// after parse(): --iterations --lr --warmup --grad-clip --weight-decay --ema --log-every
// --checkpoint-every --sample-every --minutes --resume.
class TrainingFlags {
 public:
  TrainingFlags(Cli& cli, const TrainingOptions& defaults, const std::string& prefix = "");
  TrainingOptions options() const;  // after cli.parse()

 private:
  Cli& cli_;
  std::string prefix_;
  int64_t &iterations_, &warmup_, &log_every_, &checkpoint_every_, &sample_every_;
  double &lr_, &grad_clip_, &weight_decay_, &ema_decay_, &minutes_;
  bool& resume_;
};

// make_output_dir for a training run: with --resume the checkpoint (`<prefix>checkpoint.
// safetensors`) must already be there, and a failed --resume creates nothing.
std::string training_output_dir(const std::string& out_dir, const TrainingOptions& options,
                                const std::string& prefix = "");

// The run's settings as text ("steps" -> "24"): stored in every checkpoint, so that --resume
// can refuse a run with different ones, and in the saved weights, so that a later chapter can
// check it samples with the schedule the model was trained with.
using RunSettings = std::map<std::string, std::string>;
std::string exact(double value);  // "%.17g": reads back to the same double

class Trainer {
 public:
  // Trains `model`'s parameters; writes into `out_dir` files named `<prefix>checkpoint.
  // safetensors`, `<prefix>losses.csv`, `<prefix>loss_history.svg`, `<prefix>samples_<step>.png`.
  // `generator` is the one the chapter draws its training randomness from (null: the global
  // one); its state is saved with each checkpoint. With options.resume the checkpoint is
  // loaded and checked here, before anything is written.
  Trainer(nn::Module& model, TrainingOptions options, std::string out_dir, RunSettings settings,
          std::string prefix = "", Generator* generator = nullptr, std::string label = "training");
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // True while steps remain, the --minutes budget lasts and no Ctrl-C / SIGTERM has come.
  bool running();
  // One training step on `loss` (a scalar from this step's forward pass, graph attached).
  // Returns the loss value.
  double step(const Tensor& loss);
  // Ends the training: the final checkpoint, losses.csv and the loss curve; with an EMA the
  // averaged weights are copied into the model (what sampling and saving use from then on).
  // After Ctrl-C / SIGTERM: throws Interrupted once everything is saved.
  void finish();

  // A function that draws a picture of the model's samples (a [C, H, W] grid in [0, 1]), called
  // every --sample-every steps with the sampling weights (the EMA's, when there is one) in
  // the model, without a graph; the trainer saves it as <prefix>samples_<step>.png.
  void set_sampler(std::function<Tensor()> sampler) { sampler_ = std::move(sampler); }
  // Runs `body` with the sampling weights in the model, then puts the training weights back.
  void with_sampling_weights(const std::function<void()>& body);

  int64_t completed() const { return step_; }         // optimizer steps done, resumed ones included
  int64_t first_step() const { return first_step_; }  // where this run started (0 or resumed)
  const std::vector<double>& losses() const { return losses_; }
  nn::Optimizer& optimizer() { return *optimizer_; }
  const nn::EMA* ema() const { return ema_.get(); }
  double lr_at(int64_t step) const;  // the learning rate of the step-th update (0-based)
  const std::string& checkpoint_path() const { return checkpoint_path_; }
  const std::string& losses_path() const { return losses_path_; }
  const std::string& curve_path() const { return curve_path_; }
  // Why running() turned false: "" while running, "done", "time budget", "SIGINT", "SIGTERM".
  const std::string& stop_reason() const { return stop_reason_; }

 private:
  RunSettings all_settings() const;  // the chapter's, plus the ones that shape the optimizer
  void resume_from_checkpoint();
  void save_checkpoint();
  void save_samples();
  void print_log_line(double loss);

  nn::Module& model_;
  TrainingOptions options_;
  std::string out_dir_, prefix_, label_;
  RunSettings settings_;
  Generator* generator_;
  std::unique_ptr<nn::Optimizer> optimizer_;
  std::unique_ptr<nn::EMA> ema_;
  std::unique_ptr<Progress> progress_;
  std::function<Tensor()> sampler_;
  std::vector<double> losses_;
  std::string checkpoint_path_, losses_path_, curve_path_;
  int64_t step_ = 0, first_step_ = 0, last_checkpoint_ = -1;
  std::string stop_reason_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace diffusion
}  // namespace drift

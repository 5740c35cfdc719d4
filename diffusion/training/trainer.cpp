// trainer.cpp — the shared training loop (see trainer.h for what it owns and why).
#include "diffusion/training/trainer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "autograd/grad_mode.h"
#include "diffusion/tools/image.h"
#include "diffusion/tools/plot.h"
#include "nn/checkpoint.h"
#include "nn/lr_schedule.h"
#include "tensor/io/safetensors.h"

namespace drift {
namespace diffusion {

namespace {

// --resume needs a checkpoint to continue from.
void require_checkpoint(const std::string& path) {
  DRIFT_CHECK(std::filesystem::exists(path), "--resume: no checkpoint to continue at "
                                                 << path << " (run without --resume to start)");
}

// A flag's help text; a prefixed family ("b-") says which part of the chapter it trains.
std::string tag(const std::string& prefix, const std::string& text) {
  return prefix.empty() ? text : "(" + prefix.substr(0, prefix.size() - 1) + ") " + text;
}

}  // namespace

// ---- the training flags ---------------------------------------------------------------------

TrainingFlags::TrainingFlags(Cli& cli, const TrainingOptions& d, const std::string& prefix)
    : cli_(cli),
      prefix_(prefix),
      iterations_(cli.add_int(prefix + "iterations", d.iterations,
                              tag(prefix, "training iterations in all"), 1, 1000000000)),
      warmup_(
          cli.add_int(prefix + "warmup", d.warmup,
                      tag(prefix, "linear learning-rate warm-up over the first N steps (0: none)"),
                      0, 1000000000)),
      log_every_(cli.add_int(
          prefix + "log-every", d.log_every,
          tag(prefix, "a log line, and the loss window of the progress line, every N steps"), 1,
          1000000000)),
      checkpoint_every_(cli.add_int(
          prefix + "checkpoint-every", d.checkpoint_every,
          tag(prefix, "write the checkpoint every N steps (0: only at the end)"), 0, 1000000000)),
      sample_every_(cli.add_int(prefix + "sample-every", d.sample_every,
                                tag(prefix, "save a grid of samples every N steps (0: none)"), 0,
                                1000000000)),
      lr_(cli.add_float(prefix + "lr", d.lr, tag(prefix, "learning rate (after the warm-up)"),
                        1e-12, 10.0)),
      grad_clip_(cli.add_float(prefix + "grad-clip", d.grad_clip,
                               tag(prefix, "clip the gradients' global L2 norm to this (0: off)"),
                               0.0, 1e9)),
      weight_decay_(cli.add_float(prefix + "weight-decay", d.weight_decay,
                                  tag(prefix, "AdamW's decoupled weight decay (0: plain Adam)"),
                                  0.0, 1.0)),
      ema_decay_(cli.add_float(
          prefix + "ema", d.ema_decay,
          tag(prefix, "decay of an EMA of the weights (warmed up), used for sampling (0: off)"),
          0.0, 0.999999)),
      minutes_(cli.add_float(
          prefix + "minutes", d.minutes,
          tag(prefix, "train at most this many minutes, then sample (0: no limit)"), 0.0, 1e6)),
      resume_(cli.add_switch(prefix + "resume",
                             tag(prefix, "continue from the checkpoint in --out"))) {}

TrainingOptions TrainingFlags::options() const {
  TrainingOptions o;
  o.iterations = iterations_;
  o.lr = lr_;
  o.warmup = warmup_;
  o.grad_clip = grad_clip_;
  o.weight_decay = weight_decay_;
  o.ema_decay = ema_decay_;
  o.log_every = log_every_;
  o.checkpoint_every = checkpoint_every_;
  o.sample_every = sample_every_;
  o.minutes = minutes_;
  o.resume = resume_;
  o.resume_command = cli_.command_line();
  const std::string flag = " --" + prefix_ + "resume";
  if (o.resume_command.find(flag) == std::string::npos) o.resume_command += flag;
  return o;
}

std::string training_output_dir(const std::string& out_dir, const TrainingOptions& options,
                                const std::string& prefix) {
  if (options.resume) require_checkpoint(out_dir + "/" + prefix + "checkpoint.safetensors");
  return make_output_dir(out_dir);
}

std::string exact(double value) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

// ---- Ctrl-C and SIGTERM ---------------------------------------------------------------------
// The handler only records the signal; the loop notices it between steps. It then restores
// the default action, so a second Ctrl-C stops the program at once (the files are still safe:
// each is written under a temporary name and renamed).

namespace {

std::atomic<int> pending_signal{0};

extern "C" void on_stop_signal(int signal) {
  pending_signal.store(signal);
  std::signal(signal, SIG_DFL);
}

const char* signal_name(int signal) {
  return signal == SIGINT ? "SIGINT" : "SIGTERM";
}

// The loss history, one value per step ("nan" where a resumed run lacks one); 9 digits
// read back to the same float.
void save_losses(const std::string& path, const std::vector<double>& losses) {
  std::ostringstream csv;
  csv << "step,loss\n";
  char line[64];
  for (size_t i = 0; i < losses.size(); ++i) {
    std::snprintf(line, sizeof line, "%zu,%.9g\n", i + 1, losses[i]);
    csv << line;
  }
  write_file_atomically(path, csv.str());
}

// The first `count` losses of a file save_losses wrote; fewer if it is shorter or damaged.
std::vector<double> load_losses(const std::string& path, int64_t count) {
  std::vector<double> losses;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // the header
  while (static_cast<int64_t>(losses.size()) < count && std::getline(in, line)) {
    const size_t comma = line.find(',');
    if (comma == std::string::npos) break;
    const char* text = line.c_str() + comma + 1;
    char* end = nullptr;
    const double loss = std::strtod(text, &end);
    if (end == text) break;                      // not a number: keep what came before
    losses.push_back(static_cast<float>(loss));  // losses are float values: exact again
  }
  return losses;
}

double mean_of_last(const std::vector<double>& values, size_t window) {
  window = std::min(window, values.size());
  double sum = 0;
  size_t n = 0;
  for (size_t i = values.size() - window; i < values.size(); ++i)
    if (std::isfinite(values[i])) sum += values[i], ++n;
  return n > 0 ? sum / static_cast<double>(n) : std::nan("");
}

}  // namespace

// ---- setting up -----------------------------------------------------------------------------

Trainer::Trainer(nn::Module& model, TrainingOptions options, std::string out_dir,
                 RunSettings settings, std::string prefix, Generator* generator, std::string label)
    : model_(model),
      options_(std::move(options)),
      out_dir_(std::move(out_dir)),
      prefix_(std::move(prefix)),
      label_(std::move(label)),
      settings_(std::move(settings)),
      generator_(generator) {
  DRIFT_CHECK(options_.iterations >= 1 && options_.log_every >= 1,
              "Trainer: iterations and log_every must be at least 1");
  checkpoint_path_ = out_dir_ + "/" + prefix_ + "checkpoint.safetensors";
  losses_path_ = out_dir_ + "/" + prefix_ + "losses.csv";
  curve_path_ = out_dir_ + "/" + prefix_ + "loss_history.svg";
  if (options_.weight_decay > 0)
    optimizer_ = std::make_unique<nn::AdamW>(model_.parameters(), options_.lr, nn::AdamBetas{},
                                             1e-8, options_.weight_decay);
  else
    optimizer_ = std::make_unique<nn::Adam>(model_.parameters(), options_.lr);
  // with nn::EMA's warm-up: a short run's average is not dominated by the random start
  if (options_.ema_decay > 0)
    ema_ = std::make_unique<nn::EMA>(model_, options_.ema_decay, /*warmup=*/true);

  if (options_.resume) {
    resume_from_checkpoint();
  } else if (std::filesystem::exists(checkpoint_path_)) {
    std::printf("starting afresh: %s will be overwritten (--resume continues it instead)\n",
                checkpoint_path_.c_str());
  }
  pending_signal.store(0);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  start_ = std::chrono::steady_clock::now();
  const int64_t remaining = std::max<int64_t>(options_.iterations - first_step_, 1);
  progress_ =
      std::make_unique<Progress>(first_step_ > 0 ? label_ + " (resumed)" : label_, remaining);
}

Trainer::~Trainer() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

RunSettings Trainer::all_settings() const {
  RunSettings all = settings_;
  all["lr"] = exact(options_.lr);
  all["warmup"] = std::to_string(options_.warmup);
  all["grad-clip"] = exact(options_.grad_clip);
  all["weight-decay"] = exact(options_.weight_decay);
  all["ema"] = exact(options_.ema_decay);
  return all;
}

void Trainer::resume_from_checkpoint() {
  require_checkpoint(checkpoint_path_);
  // Everything is checked before anything changes: load_checkpoint validates the file whole.
  nn::TrainingState state =
      nn::load_checkpoint(checkpoint_path_, model_, optimizer_.get(), ema_.get());
  for (const auto& [key, value] : all_settings()) {
    auto it = state.extra.find(key);
    DRIFT_CHECK(it != state.extra.end(),
                "cannot resume from " << checkpoint_path_ << ": it does not record --" << key);
    DRIFT_CHECK(it->second == value,
                "cannot resume from " << checkpoint_path_ << ": it was trained with --" << key
                                      << " " << it->second << ", this run has --" << key << " "
                                      << value
                                      << " (use the same flags, or start afresh without --resume)");
  }
  if (generator_ != nullptr && generator_ != &default_generator()) {
    DRIFT_CHECK(state.extra.count("generator.seed") && state.extra.count("generator.offset"),
                "cannot resume from " << checkpoint_path_ << ": it lacks the generator's state");
    generator_->set_state(std::stoull(state.extra.at("generator.seed")),
                          std::stoull(state.extra.at("generator.offset")));
  }
  first_step_ = step_ = last_checkpoint_ = state.step;
  losses_ = load_losses(losses_path_, first_step_);
  std::printf("resuming from %s at step %lld\n", checkpoint_path_.c_str(),
              static_cast<long long>(first_step_));
  if (static_cast<int64_t>(losses_.size()) < first_step_) {
    std::printf(
        "    note: %s holds only %zu of the %lld earlier losses; the curve misses the rest\n",
        losses_path_.c_str(), losses_.size(), static_cast<long long>(first_step_));
    losses_.resize(static_cast<size_t>(first_step_), std::nan(""));
  }
  if (first_step_ >= options_.iterations)
    std::printf("    the checkpoint is already at --iterations %lld: nothing left to train\n",
                static_cast<long long>(options_.iterations));
}

// ---- the loop -------------------------------------------------------------------------------

bool Trainer::running() {
  if (finished_ || !stop_reason_.empty()) return false;
  const int signal = pending_signal.load();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (step_ >= options_.iterations)
    stop_reason_ = "done";
  else if (signal != 0)
    stop_reason_ = signal_name(signal);
  else if (options_.minutes > 0 && elapsed >= options_.minutes * 60.0)
    stop_reason_ = "time budget";
  return stop_reason_.empty();
}

double Trainer::lr_at(int64_t step) const {
  if (options_.warmup == 0 || step >= options_.warmup) return options_.lr;
  return nn::LinearWarmup(static_cast<float>(options_.lr), options_.warmup).lr_at(step);
}

double Trainer::step(const Tensor& loss) {
  DRIFT_CHECK(!finished_, "Trainer::step: the training has finished");
  DRIFT_CHECK(loss.defined() && loss.numel() == 1,
              "Trainer::step: expected a scalar loss, got "
                  << (loss.defined() ? describe(loss) : "undefined"));
  const double value = loss.item();
  if (!std::isfinite(value)) {
    progress_->finish();
    std::ostringstream kept;
    if (last_checkpoint_ >= 0)
      kept << "the last good checkpoint (step " << last_checkpoint_ << ") is intact at "
           << checkpoint_path_;
    else
      kept << "no checkpoint had been written yet (--checkpoint-every N keeps one)";
    DRIFT_FAIL("the loss became " << value << " at step " << step_ + 1 << " of "
                                  << options_.iterations
                                  << ": training diverged (try a smaller --lr or --grad-clip); "
                                  << kept.str());
  }
  if (options_.warmup > 0 && step_ <= options_.warmup) optimizer_->set_lr(lr_at(step_));
  optimizer_->zero_grad();
  loss.backward();
  if (options_.grad_clip > 0) nn::clip_grad_norm_(model_.parameters(), options_.grad_clip);
  optimizer_->step();
  if (ema_) ema_->update(model_);
  losses_.push_back(value);
  ++step_;

  const double recent = mean_of_last(losses_, static_cast<size_t>(options_.log_every));
  if ((step_ - 1) % options_.log_every == 0 || step_ == options_.iterations) {
    char line[200];
    std::snprintf(line, sizeof line, "step %6lld  loss %.4f  (mean of the last %lld: %.4f)",
                  static_cast<long long>(step_), value,
                  static_cast<long long>(std::min<int64_t>(options_.log_every, step_)), recent);
    std::string text = line;
    if (options_.warmup > 0 && step_ <= options_.warmup) {
      std::snprintf(line, sizeof line, "  lr %.3g", optimizer_->lr());
      text += line;
    }
    progress_->note(text);
  }
  progress_->step(recent);
  if (options_.sample_every > 0 && step_ % options_.sample_every == 0 && sampler_) save_samples();
  if (options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0 &&
      step_ < options_.iterations)
    save_checkpoint();
  return value;
}

// ---- saving ---------------------------------------------------------------------------------

void Trainer::save_checkpoint() {
  nn::TrainingState state;
  state.step = step_;
  state.extra = all_settings();
  if (generator_ != nullptr && generator_ != &default_generator()) {
    state.extra["generator.seed"] = std::to_string(generator_->seed());
    state.extra["generator.offset"] = std::to_string(generator_->offset());
  }
  try {
    nn::save_checkpoint(checkpoint_path_, model_, optimizer_.get(), state, ema_.get());
    save_losses(losses_path_, losses_);
  } catch (const Error& e) {
    std::ostringstream previous;
    if (last_checkpoint_ >= 0)
      previous << "the previous checkpoint (step " << last_checkpoint_ << ") is intact";
    else
      previous << "no earlier checkpoint exists";
    DRIFT_FAIL("cannot save the checkpoint of step " << step_ << " in " << out_dir_ << " ("
                                                     << e.what() << "); " << previous.str());
  }
  last_checkpoint_ = step_;
}

void Trainer::with_sampling_weights(const std::function<void()>& body) {
  NoGradGuard no_grad;
  const bool was_training = model_.is_training();
  model_.eval();             // dropout off while sampling
  if (!ema_ || finished_) {  // after finish() the model already holds the EMA weights
    body();
    model_.train(was_training);
    return;
  }
  std::vector<Tensor> training_weights;
  for (const Tensor& p : model_.parameters()) training_weights.push_back(p.clone());
  ema_->copy_to(model_);
  body();
  std::vector<Tensor> params = model_.parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(training_weights[i]);
  model_.train(was_training);
}

void Trainer::save_samples() {
  char name[64];
  std::snprintf(name, sizeof name, "samples_%06lld.png", static_cast<long long>(step_));
  const std::string path = out_dir_ + "/" + prefix_ + name;
  with_sampling_weights([&] { save_png(path, sampler_()); });
  progress_->note("    -> " + path + (ema_ ? " (samples, EMA weights)" : " (samples)"));
}

void Trainer::finish() {
  if (finished_) return;
  const bool trained = step_ > first_step_;
  if (trained) progress_->finish();
  if (trained || !options_.resume) save_checkpoint();
  finished_ = true;
  const int64_t window =
      std::max<int64_t>(1, std::min<int64_t>(100, static_cast<int64_t>(losses_.size()) / 20));
  loss_plot(losses_, window, label_ + " loss").save(curve_path_);
  std::printf(
      "    -> %s (model, optimizer, EMA, random generator, step %lld: --resume continues)\n",
      checkpoint_path_.c_str(), static_cast<long long>(step_));
  std::printf("    -> %s and %s (the loss of every step)\n", losses_path_.c_str(),
              curve_path_.c_str());
  if (ema_) {
    ema_->copy_to(model_);
    std::printf("    sampling with the EMA weights (decay %g, %lld updates)\n", ema_->decay(),
                static_cast<long long>(ema_->num_updates()));
  }
  if (stop_reason_ == "SIGINT" || stop_reason_ == "SIGTERM") {
    const int signal = stop_reason_ == "SIGINT" ? SIGINT : SIGTERM;
    throw Interrupted(stop_reason_ + " at step " + std::to_string(step_) + " of " +
                          std::to_string(options_.iterations) + ": the checkpoint is saved in " +
                          checkpoint_path_ + "; resume with: " + options_.resume_command,
                      signal);
  }
  if (stop_reason_ == "time budget")
    std::printf("    the --minutes %g budget ran out at step %lld of %lld; resume with: %s\n",
                options_.minutes, static_cast<long long>(step_),
                static_cast<long long>(options_.iterations), options_.resume_command.c_str());
}

}  // namespace diffusion
}  // namespace drift

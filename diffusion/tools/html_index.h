// html_index.h — one page a student opens: a chapter's output folder as an index.html that
// shows its figures with one-line captions, and a top-level page linking every chapter.
//
//   IndexPage page("Chapter 3: sampling", "From pure noise to a picture with DDPM.");
//   page.section("(a) the toy model of chapter 2");
//   page.figure("a_sample.png", "x_0 sampled from the trained toy model");
//   page.save_png(out, "b_samples.png", grid, "16 samples");   // save_png + print + figure
//   page.save_svg(out, "schedules.svg", figure, "the beta schedules");   // the same, SVG
//   page.file("b_losses.csv", "the loss of every training step");
//   page.write(out + "/index.html");           // checks every file exists; atomic
//   write_chapters_index(out + "/..");         // out/index.html: every chapter's page
//
// Pages are self-contained XHTML (no scripts, no external resources); PNG and SVG files are
// shown as images scaled to the window, other files are links.
#pragma once

#include <string>
#include <vector>

#include "diffusion/tools/plot.h"
#include "tensor/tensor.h"

namespace drift {
namespace diffusion {

class IndexPage {
 public:
  IndexPage(std::string title, std::string intro);
  void section(const std::string& heading);
  // `file` relative to the page's folder; PNG / SVG are shown, anything else is linked.
  void figure(const std::string& file, const std::string& caption);
  void file(const std::string& file, const std::string& caption) { figure(file, caption); }
  // Saves `image` (values in [0, 1]) as <dir>/<name>, a PNG; says where it went, on one line
  // ("    -> out/03_sampling/b_samples.png (caption)"), and shows it on the page.
  void save_png(const std::string& dir, const std::string& name, const Tensor& image,
                const std::string& caption);
  // The same for a plot or a figure of plots, saved as <dir>/<name>, an SVG.
  void save_svg(const std::string& dir, const std::string& name, const LinePlot& plot,
                const std::string& caption);
  void save_svg(const std::string& dir, const std::string& name, const Figure& figure,
                const std::string& caption);
  // The page as text, and written to `path` (each listed file must exist beside it).
  std::string html() const;
  void write(const std::string& path) const;

 private:
  struct Item {
    std::string heading, file, caption;  // a section has only a heading
  };
  std::string title_, intro_;
  std::vector<Item> items_;
};

// Writes `<dir>/index.html` linking `<dir>/<chapter>/index.html` for every sub-folder that has
// one (sorted by name), with each page's title. Returns the path.
std::string write_chapters_index(const std::string& dir);

// A chapter's last step: writes `page` as <out_dir>/index.html, refreshes the chapters' index
// in the folder above (out/index.html) and prints "open <page> in a browser".
void write_chapter_page(const IndexPage& page, const std::string& out_dir);

// Text with &, <, >, " escaped for HTML.
std::string html_escape(const std::string& text);

}  // namespace diffusion
}  // namespace drift

// html_index.cpp — the output folders' index pages (see html_index.h).
#include "diffusion/tools/html_index.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "diffusion/tools/data.h"
#include "diffusion/tools/image.h"
#include "tensor/error.h"
#include "tensor/io/safetensors.h"

namespace drift {
namespace diffusion {

namespace fs = std::filesystem;

namespace {

const char* kStyle =
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "figure{margin:1.2em 0}img{max-width:100%;border:1px solid #ddd}"
    "figcaption{color:#555;margin-top:.3em}h2{border-bottom:1px solid #eee}";

std::string page(const std::string& title, const std::string& body) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n"
         "<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
         "<meta charset=\"UTF-8\"/>\n<title>" +
         html_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n" + body +
         "</body>\n</html>\n";
}

bool is_picture(const std::string& file) {
  const std::string ext = fs::path(file).extension().string();
  return ext == ".png" || ext == ".svg";
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

IndexPage::IndexPage(std::string title, std::string intro)
    : title_(std::move(title)), intro_(std::move(intro)) {}

void IndexPage::section(const std::string& heading) { items_.push_back({heading, "", ""}); }

void IndexPage::figure(const std::string& file, const std::string& caption) {
  items_.push_back({"", file, caption});
}

void IndexPage::save_png(const std::string& dir, const std::string& name, const Tensor& image,
                         const std::string& caption) {
  const std::string path = dir + "/" + name;
  diffusion::save_png(path, image);
  std::printf("    -> %s (%s)\n", path.c_str(), caption.c_str());
  figure(name, caption);
}

void IndexPage::save_svg(const std::string& dir, const std::string& name, const LinePlot& plot,
                         const std::string& caption) {
  const std::string path = dir + "/" + name;
  plot.save(path);
  std::printf("    -> %s (%s)\n", path.c_str(), caption.c_str());
  figure(name, caption);
}

void IndexPage::save_svg(const std::string& dir, const std::string& name, const Figure& figure,
                         const std::string& caption) {
  const std::string path = dir + "/" + name;
  figure.save(path);
  std::printf("    -> %s (%s)\n", path.c_str(), caption.c_str());
  this->figure(name, caption);
}

std::string IndexPage::html() const {
  std::ostringstream body;
  body << "<h1>" << html_escape(title_) << "</h1>\n<p>" << html_escape(intro_) << "</p>\n"
       << "<p><a href=\"../index.html\">all chapters</a></p>\n";
  for (const Item& item : items_) {
    if (!item.heading.empty()) {
      body << "<h2>" << html_escape(item.heading) << "</h2>\n";
    } else if (is_picture(item.file)) {
      body << "<figure><img src=\"" << html_escape(item.file) << "\" alt=\""
           << html_escape(item.caption) << "\"/><figcaption><code>" << html_escape(item.file)
           << "</code>: " << html_escape(item.caption) << "</figcaption></figure>\n";
    } else {
      body << "<p><a href=\"" << html_escape(item.file) << "\"><code>" << html_escape(item.file)
           << "</code></a>: " << html_escape(item.caption) << "</p>\n";
    }
  }
  return page(title_, body.str());
}

void IndexPage::write(const std::string& path) const {
  const fs::path dir = fs::path(path).parent_path();
  for (const Item& item : items_)
    DRIFT_CHECK(item.file.empty() || fs::exists(dir / item.file),
                "index page " << path << ": the file it shows is missing: " << (dir / item.file));
  write_file_atomically(path, html());
}

void write_chapter_page(const IndexPage& page, const std::string& out_dir) {
  fs::path dir = fs::absolute(out_dir).lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();  // "out/03_sampling/"
  const std::string path = (dir / "index.html").string();
  page.write(path);
  const std::string all = write_chapters_index(dir.parent_path().string());
  std::printf("\nOpen %s in a browser: every figure with a caption (all chapters: %s)\n",
              path.c_str(), all.c_str());
}

std::string write_chapters_index(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> chapters;  // folder, title
  for (const auto& entry : fs::directory_iterator(dir)) {
    const fs::path index = entry.path() / "index.html";
    if (!entry.is_directory() || !fs::exists(index)) continue;
    const std::string text = read_file(index.string());
    const size_t open = text.find("<title>"), close = text.find("</title>");
    std::string title = entry.path().filename().string();
    if (open != std::string::npos && close > open) title = text.substr(open + 7, close - open - 7);
    chapters.emplace_back(entry.path().filename().string(), title);  // title is escaped already
  }
  std::sort(chapters.begin(), chapters.end());
  std::ostringstream body;
  body << "<h1>drift: the chapters' outputs</h1>\n<ul>\n";
  for (const auto& [folder, title] : chapters)
    body << "<li><a href=\"" << html_escape(folder) << "/index.html\">" << title << "</a></li>\n";
  body << "</ul>\n";
  const std::string path = (fs::path(dir) / "index.html").string();
  write_file_atomically(path, page("drift: the chapters' outputs", body.str()));
  return path;
}

}  // namespace diffusion
}  // namespace drift

// test_repo.cpp — checks on the repository itself, so that what the READMEs and the layout
// promise stays true:
//   * no #include runs upward: tensor → autograd → nn → diffusion → chapters, and inside
//     diffusion/ tools/ → (process/ objectives/ samplers/ metrics/ models/ figures/) → training/;
//   * every relative link in a Markdown file points at a file that exists; a link to code
//     names its symbol in backticks ([`ddpm_loss`](diffusion/objectives/ddpm_loss.cpp)) and the
//     symbol is in that file — and within the lines, when the link points at lines (#L12-L20);
//   * the project stands on its own: no file refers to a guide or seed texts outside it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "diffusion/tools/data.h"

namespace fs = std::filesystem;

namespace {

const fs::path source_root = DRIFT_SOURCE_DIR;

// Every file under the source tree with one of `extensions`, as paths relative to the root;
// build outputs, data and generated outputs are skipped.
std::vector<std::string> repo_files(const std::vector<std::string>& extensions) {
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(source_root); it != fs::end(it); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && (name == "build" || name == ".git" || name == "out" ||
                               name == "data" || name.rfind("build", 0) == 0)) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    for (const std::string& ext : extensions)
      if (it->path().extension() == ext)
        files.push_back(fs::relative(it->path(), source_root).generic_string());
  }
  return files;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---- the layering rule --------------------------------------------------------------------

// The layer of a file or include path, lower first; -1 for folders outside the layers
// (tests/, bench/ see everything).
int layer(const std::string& path) {
  static const std::vector<std::pair<std::string, int>> layers = {
      {"tensor/", 0},
      {"autograd/", 1},
      {"nn/", 2},
      {"diffusion/tools/", 3},
      {"diffusion/process/", 4},
      {"diffusion/objectives/", 4},
      {"diffusion/samplers/", 4},
      {"diffusion/metrics/", 4},
      {"diffusion/models/", 4},
      {"diffusion/figures/", 4},
      {"diffusion/training/", 5},
      {"chapters/", 6}};
  for (const auto& [prefix, rank] : layers)
    if (path.rfind(prefix, 0) == 0) return rank;
  return -1;
}

// "" when `file` may include `included`, else why not.
std::string include_problem(const std::string& file, const std::string& included) {
  const int from = layer(file), to = layer(included);
  if (from < 0 || to < 0) return "";  // tests, bench, system headers
  if (to > from) return "runs upward (" + included + " is above " + file + ")";
  return "";
}

}  // namespace

TEST_CASE("repo: the layering rule itself") {
  CHECK(include_problem("tensor/cpu/conv.cpp", "nn/module.h") != "");
  CHECK(include_problem("diffusion/tools/plot.cpp", "diffusion/process/schedule.h") != "");
  CHECK(include_problem("diffusion/samplers/ddpm.h", "diffusion/training/trainer.h") != "");
  CHECK(include_problem("diffusion/training/trainer.cpp", "diffusion/tools/plot.h") == "");
  CHECK(include_problem("chapters/03_sampling/main.cpp", "diffusion/samplers/ddpm.h") == "");
  CHECK(include_problem("tests/test_trainer.cpp", "chapters/x.h") == "");
}

TEST_CASE("repo: no #include runs upward") {
  const std::regex include_line(R"(^\s*#\s*include\s*"([^"]+)\")");
  std::vector<std::string> problems;
  int checked = 0;
  for (const std::string& file : repo_files({".h", ".cpp", ".cu", ".cuh"})) {
    const std::vector<std::string> lines = lines_of(drift::diffusion::read_file((source_root / file).string()));
    for (size_t i = 0; i < lines.size(); ++i) {
      std::smatch m;
      if (!std::regex_search(lines[i], m, include_line)) continue;
      ++checked;
      const std::string why = include_problem(file, m[1]);
      if (!why.empty()) problems.push_back(file + ":" + std::to_string(i + 1) + ": " + why);
    }
  }
  CHECK(checked > 100);
  for (const std::string& p : problems) FAIL_CHECK(p);
}

TEST_CASE("repo: README links point at files that exist and name the symbol they show") {
  const std::regex link(R"(\[([^\]]*)\]\(([^)\s]+)\))");
  const std::regex line_anchor(R"(#L(\d+)(?:-L(\d+))?$)");
  const std::regex backticked("`([^`]+)`");
  std::vector<std::string> problems;
  int checked = 0;
  for (const std::string& md : repo_files({".md"})) {
    const fs::path dir = (source_root / md).parent_path();
    const std::vector<std::string> lines = lines_of(drift::diffusion::read_file((source_root / md).string()));
    for (size_t i = 0; i < lines.size(); ++i) {
      for (auto it = std::sregex_iterator(lines[i].begin(), lines[i].end(), link);
           it != std::sregex_iterator(); ++it) {
        const std::string text = (*it)[1], target = (*it)[2];
        if (target.find("://") != std::string::npos || target[0] == '#' ||
            target.rfind("mailto:", 0) == 0)
          continue;
        ++checked;
        const std::string where = md + ":" + std::to_string(i + 1) + ": (" + target + ") ";
        const std::string file = target.substr(0, target.find('#'));
        const fs::path path = dir / file;
        if (!fs::exists(path)) {
          problems.push_back(where + "no such file");
          continue;
        }
        const std::string ext = path.extension().string();
        const bool code = ext == ".h" || ext == ".cpp" || ext == ".cu" || ext == ".py" ||
                          ext == ".cuh" || ext == ".sh";
        std::smatch anchor, name;
        const bool has_lines = std::regex_search(target, anchor, line_anchor);
        const bool has_name = std::regex_search(text, name, backticked);
        if (has_lines && !has_name) {
          problems.push_back(where + "points at lines without naming the symbol in backticks");
          continue;
        }
        if (!code || !has_name) continue;
        // A file name in backticks ([`toy.h`](...)) names the file, not a symbol in it.
        const std::string named = name[1];
        if (!has_lines && (named.find('/') != std::string::npos || named == path.filename().string()))
          continue;
        // The symbol: `NoiseScheduler::add_noise` -> add_noise; `forward(x, t)` -> forward.
        std::string symbol = name[1];
        symbol = symbol.substr(0, symbol.find('('));
        if (symbol.rfind("::") != std::string::npos) symbol = symbol.substr(symbol.rfind("::") + 2);
        const std::vector<std::string> code_lines = lines_of(drift::diffusion::read_file(path.string()));
        size_t first = 0, last = code_lines.size();
        if (has_lines) {
          first = std::stoul(anchor[1]) - 1;
          last = anchor[2].matched ? std::stoul(anchor[2]) : first + 1;
        }
        bool found = false;
        for (size_t k = first; k < last && k < code_lines.size(); ++k)
          found = found || code_lines[k].find(symbol) != std::string::npos;
        if (!found)
          problems.push_back(where + "'" + symbol + "' is not in " +
                             (has_lines ? "the linked lines (scripts/relink.py re-points line anchors at the symbols "
                                         "the links name)"
                                       : "the file"));
      }
    }
  }
  CHECK(checked > 20);
  for (const std::string& p : problems) FAIL_CHECK(p);
}

TEST_CASE("repo: the project stands on its own (no references to texts outside it)") {
  std::vector<std::string> problems;
  const std::vector<std::string> outside = {"GUIDE" ".md", "shared/" "seeds"};
  for (const std::string& file : repo_files({".md", ".h", ".cpp", ".cu", ".cuh", ".py", ".sh",
                                             ".txt"})) {
    const std::vector<std::string> lines = lines_of(drift::diffusion::read_file((source_root / file).string()));
    for (size_t i = 0; i < lines.size(); ++i)
      for (const std::string& word : outside)
        if (lines[i].find(word) != std::string::npos)
          problems.push_back(file + ":" + std::to_string(i + 1) + ": refers to " + word);
  }
  for (const std::string& p : problems) FAIL_CHECK(p);
}

// test_html_index.cpp — the output folders' index pages (diffusion/tools/html_index.h): well-
// formed, escaped, every shown file present, and the chapters' index linking each page.
#include <doctest/doctest.h>

#include <regex>

#include "diffusion/tools/data.h"
#include "diffusion/tools/html_index.h"
#include "tensor/error.h"
#include "tests/temp_dir.h"
#include "tests/xml_check.h"

using namespace drift;
using namespace drift::diffusion;

TEST_CASE("IndexPage: well-formed XHTML, escaped text, pictures shown and files linked") {
  test::TempDir dir("html_index");
  dir.write("ch/a.png", "png");
  dir.write("ch/curve.svg", "<svg/>");
  dir.write("ch/losses.csv", "step,loss\n");
  IndexPage page("Chapter <1> & more", "x < y \"quoted\"");
  page.section("(a) first");
  page.figure("a.png", "a picture");
  page.figure("curve.svg", "a curve");
  page.file("losses.csv", "a table");
  const std::string html = page.html();
  CHECK(test::xml_problem(html) == "");
  CHECK(html.find("Chapter &lt;1&gt; &amp; more") != std::string::npos);
  CHECK(html.find("<img src=\"a.png\"") != std::string::npos);
  CHECK(html.find("<img src=\"curve.svg\"") != std::string::npos);
  CHECK(html.find("<a href=\"losses.csv\">") != std::string::npos);
  page.write(dir.path("ch/index.html"));
  // Every file the page refers to exists beside it.
  const std::string written = read_file(dir.path("ch/index.html"));
  const std::regex ref(R"re((?:src|href)="([^"]+)")re");
  int refs = 0;
  for (auto it = std::sregex_iterator(written.begin(), written.end(), ref);
       it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[1];
    if (target == "../index.html") continue;
    ++refs;
    CHECK(std::filesystem::exists(dir.path("ch/" + target)));
  }
  CHECK(refs == 3);
  // The chapters' index links the page, with its title.
  const std::string all = write_chapters_index(dir.str());
  const std::string top = read_file(all);
  CHECK(test::xml_problem(top) == "");
  CHECK(top.find("<a href=\"ch/index.html\">Chapter &lt;1&gt; &amp; more</a>") != std::string::npos);
}

TEST_CASE("IndexPage: a missing figure is an error naming it") {
  test::TempDir dir("html_index_missing");
  IndexPage page("t", "i");
  page.figure("nope.png", "missing");
  CHECK_THROWS_WITH_AS(page.write(dir.path("index.html")), doctest::Contains("nope.png"), Error);
  CHECK_FALSE(std::filesystem::exists(dir.path("index.html")));
}

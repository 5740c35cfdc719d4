// xml_check.h — a small XML well-formedness check for the SVG files the project writes.
#pragma once

#include <string>
#include <vector>

namespace drift::test {

// A small XML well-formedness check: every tag closed in order, attributes quoted, one root.
// Returns "" when fine, else what is wrong.
inline std::string xml_problem(const std::string& text) {
  std::vector<std::string> open;
  size_t pos = 0;
  int roots = 0;
  while ((pos = text.find('<', pos)) != std::string::npos) {
    if (text.compare(pos, 5, "<?xml") == 0) {
      pos = text.find("?>", pos);
      if (pos == std::string::npos) return "unterminated <?xml";
      continue;
    }
    if (text.compare(pos, 9, "<!DOCTYPE") == 0) {  // a document type declaration (XHTML)
      pos = text.find('>', pos);
      if (pos == std::string::npos) return "unterminated <!DOCTYPE";
      continue;
    }
    if (text.compare(pos, 4, "<!--") == 0) {
      pos = text.find("-->", pos);
      if (pos == std::string::npos) return "unterminated comment";
      continue;
    }
    size_t end = pos + 1;
    char quote = 0;
    for (; end < text.size(); ++end) {  // the closing '>' outside quotes
      char c = text[end];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '<') {
        return "'<' inside a tag at " + std::to_string(end);
      } else if (c == '>') {
        break;
      }
    }
    if (end >= text.size()) return "unterminated tag at " + std::to_string(pos);
    std::string tag = text.substr(pos + 1, end - pos - 1);
    if (!tag.empty() && tag[0] == '/') {
      std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) return "closing </" + name + "> does not match";
      open.pop_back();
    } else {
      bool self_closing = !tag.empty() && tag.back() == '/';
      std::string name = tag.substr(0, tag.find_first_of(" \t\n/"));
      if (name.empty()) return "empty tag name";
      if (open.empty()) ++roots;
      if (!self_closing) open.push_back(name);
    }
    pos = end + 1;
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  if (roots != 1) return std::to_string(roots) + " root elements";
  // Text between tags must not contain a raw '&' that is not an entity.
  for (size_t amp = text.find('&'); amp != std::string::npos; amp = text.find('&', amp + 1)) {
    size_t semi = text.find(';', amp);
    if (semi == std::string::npos || semi - amp > 6) return "raw '&' at " + std::to_string(amp);
  }
  return "";
}

}  // namespace drift::test

#!/usr/bin/env python3
"""Re-points the line anchors of Markdown links to code at the symbol each link names.

A link such as [`ddpm_loss`](diffusion/objectives/ddpm_loss.cpp#L11) goes stale when the code
above it moves; tests/test_repo.cpp then fails, and `scripts/relink.py` fixes every such link in
place: the anchor becomes the first line that defines the named symbol (a line starting with a
type or keyword and holding `symbol(`), else the first line holding it.
Usage: scripts/relink.py [FILE.md ...]   (default: every Markdown file of the project)
"""
import pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent
link = re.compile(r'\[([^\]]*)\]\(([^)\s#]+)#L(\d+)(?:-L(\d+))?\)')


def line_of(path, symbol):
    lines = path.read_text().split('\n')
    name = symbol.split('(')[0]
    short = name.split('::')[-1]
    patterns = [re.compile(r'^[A-Za-z].*\b' + re.escape(name) + r'\s*\('),
                re.compile(r'^[A-Za-z].*\b' + re.escape(short) + r'\s*\('),
                re.compile(re.escape(name))]
    for pattern in patterns:
        for number, text in enumerate(lines, 1):
            if pattern.search(text):
                return number
    return None


def relink(md):
    text = md.read_text()

    def fix(m):
        named = re.search(r'`([^`]+)`', m.group(1))
        target = md.parent / m.group(2)
        if not named or not target.exists():
            return m.group(0)
        number = line_of(target, named.group(1))
        if number is None:
            print(f'{md}: `{named.group(1)}` not found in {m.group(2)}', file=sys.stderr)
            return m.group(0)
        return f'[{m.group(1)}]({m.group(2)}#L{number})'

    fixed = link.sub(fix, text)
    if fixed != text:
        md.write_text(fixed)
        print(f'relinked {md.relative_to(root)}')


files = [pathlib.Path(a).resolve() for a in sys.argv[1:]] or [
    p for p in root.rglob('*.md') if not any(part.startswith(('build', '.git', 'out', 'data'))
                                             for part in p.relative_to(root).parts)]
for md in files:
    relink(md)

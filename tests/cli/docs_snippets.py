#!/usr/bin/env python3
"""Checks that the code shown in docs/*.md is the code in the repository.

Every fenced code block preceded by a marker line

    <!-- snippet: PATH -->

must appear verbatim in the file PATH (relative to the repository root), as
consecutive whole lines; leading and trailing blank lines of the block do not
count. PATH is a docs example (docs/examples/engine_tour.cpp) or a real source
file (models/head.hpp, tests/reference/lecture_model.py), so a change there
that the docs do not follow fails this check.

Every C++ block must carry such a marker: C++ in the docs is always real code.
(A block that truly cannot be real code may say why instead, with a line
`<!-- no-snippet: REASON -->`.)

Every relative link of a page, [text](path) or [text](path#anchor) or
![alt](image), must point at an existing file, and an #anchor into a docs page
at one of its headings (GitHub's anchors), so a renamed file or heading
breaks the check rather than the reader's click.

With --xgrad PATH, every `xgrad gradcheck --op NAME` line of a code block is
also run and must pass, so the checks the pages name exist. A block preceded
by `<!-- no-run: REASON -->` is skipped (for a check the reader adds himself).

    usage: tests/cli/docs_snippets.py [REPO_ROOT] [--xgrad path/to/xgrad] [--self-test]

Prints `docs snippets: N passed, M failed` (and the same for links and
commands) and exits 1 on any failure.
Python 3 standard library only.
"""

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(\S+)\s*-->\s*$")
NO_SNIPPET = re.compile(r"^\s*<!--\s*no-snippet:.*-->\s*$")
NO_RUN = re.compile(r"^\s*<!--\s*no-run:.*-->\s*$")
FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)")
CPP_LANGS = {"cpp", "c++", "cc", "cxx", "hpp", "h"}


class Block:
    def __init__(self, page, line, lang, lines, marker, no_snippet, no_run):
        self.page = page          # the .md file
        self.line = line          # 1-based line of the opening fence
        self.lang = lang          # the info string: cpp, python, sh, ...
        self.lines = lines        # the block's content
        self.marker = marker      # the snippet PATH, or None
        self.no_snippet = no_snippet
        self.no_run = no_run


def parse_blocks(page):
    """The fenced code blocks of a Markdown page, with the marker lines before
    each. Returns (blocks, problems): a marker not followed by a block is a
    problem."""
    text = page.read_text(encoding="utf-8").splitlines()
    blocks, problems = [], []
    pending = {}  # markers seen since the last block: kind -> (line, value)
    i = 0
    while i < len(text):
        line = text[i]
        fence = FENCE.match(line)
        if fence:
            indent, ticks, lang = fence.group(1), fence.group(2), fence.group(3).lower()
            start = i
            body = []
            i += 1
            while i < len(text):
                close = text[i].strip()
                if close.startswith(ticks[0] * len(ticks)) and set(close) == {ticks[0]}:
                    break
                # content lines lose at most the fence's indentation, as CommonMark says
                content = text[i]
                strip = min(len(indent), len(content) - len(content.lstrip(" ")))
                body.append(content[strip:])
                i += 1
            else:
                problems.append(f"{page}:{start + 1}: code block never closed")
            marker = pending.get("snippet")
            blocks.append(Block(page, start + 1, lang, body, marker[1] if marker else None,
                                "no-snippet" in pending, "no-run" in pending))
            pending = {}
            i += 1
            continue
        m = MARKER.match(line)
        if m:
            if "snippet" in pending:
                problems.append(f"{page}:{pending['snippet'][0]}: snippet marker not followed by a code block")
            pending["snippet"] = (i + 1, m.group(1))
        elif NO_SNIPPET.match(line):
            pending["no-snippet"] = (i + 1, None)
        elif NO_RUN.match(line):
            pending["no-run"] = (i + 1, None)
        elif line.strip() and "snippet" in pending and not line.strip().startswith("<"):
            # prose between a marker and its block: the marker is orphaned
            problems.append(f"{page}:{pending['snippet'][0]}: snippet marker not followed by a code block")
            pending.pop("snippet")
        i += 1
    if "snippet" in pending:
        problems.append(f"{page}:{pending['snippet'][0]}: snippet marker not followed by a code block")
    return blocks, problems


def trim_blank(lines):
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def find_block(block_lines, file_lines):
    """None if block_lines occur as consecutive lines of file_lines, else a
    message naming the first block line that matches nowhere after the
    longest matching start."""
    n = len(block_lines)
    best_len, best_at = 0, -1
    for start in range(len(file_lines) - n + 1 if n <= len(file_lines) else 0):
        k = 0
        while k < n and file_lines[start + k] == block_lines[k]:
            k += 1
        if k == n:
            return None
        if k > best_len:
            best_len, best_at = k, start
    if best_at < 0:
        return f"its first line is not in the file:\n      docs: {block_lines[0]!r}"
    file_line = file_lines[best_at + best_len] if best_at + best_len < len(file_lines) else "(end of file)"
    return (f"lines 1-{best_len} match the file from line {best_at + 1}, then block line {best_len + 1} differs:\n"
            f"      docs: {block_lines[best_len]!r}\n      file: {file_line!r}")


def check_snippets(root):
    """Returns (passed, failures) over every page of root/docs and its folders (docs/blog/)."""
    pages = sorted((root / "docs").rglob("*.md"))
    passed, failures = 0, []
    for page in pages:
        blocks, problems = parse_blocks(page)
        failures += problems
        rel_page = page.relative_to(root)
        for b in blocks:
            where = f"{rel_page}:{b.line} ({b.lang or 'no language'} block)"
            if b.marker is None:
                if b.lang in CPP_LANGS and not b.no_snippet:
                    failures.append(f"{where}: a C++ block without a <!-- snippet: PATH --> marker")
                continue
            path = root / b.marker
            if not path.is_file():
                failures.append(f"{where}: snippet file {b.marker} does not exist")
                continue
            lines = trim_blank(b.lines)
            if not lines:
                failures.append(f"{where}: empty block marked as a snippet of {b.marker}")
                continue
            file_lines = path.read_text(encoding="utf-8").splitlines()
            problem = find_block(lines, file_lines)
            if problem:
                failures.append(f"{where}: not found verbatim in {b.marker}: {problem}")
            else:
                passed += 1
    return passed, failures


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def github_anchor(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped
    (but - and _), spaces to hyphens. `Tensor::from_op` -> tensorfrom_op."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def prose_lines(page):
    """(line number, line) for every line of page outside fenced code blocks."""
    in_fence = None
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line)
        if fence:
            mark = fence.group(2)[0]
            in_fence = None if in_fence == mark else (in_fence or mark)
            continue
        if not in_fence:
            yield number, line


def page_anchors(page):
    anchors, seen = set(), {}
    for _, line in prose_lines(page):
        m = HEADING.match(line)
        if m:
            base = github_anchor(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            anchors.add(base if n == 0 else f"{base}-{n}")
    return anchors


def check_links(root):
    """Returns (passed, failures) over the relative links of root/docs/**/*.md."""
    passed, failures = 0, []
    for page in sorted((root / "docs").rglob("*.md")):
        for number, line in prose_lines(page):
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                    continue
                path_part, _, anchor = target.partition("#")
                path = (page.parent / path_part).resolve() if path_part else page
                where = f"{page.relative_to(root)}:{number}: link {target}"
                if not path.exists():
                    failures.append(f"{where}: {path_part} does not exist")
                elif anchor and path.suffix == ".md" and anchor not in page_anchors(path):
                    failures.append(f"{where}: {path.name} has no heading with the anchor #{anchor}")
                else:
                    passed += 1
    return passed, failures


def gradcheck_commands(root):
    """(page, line, op) for every `xgrad gradcheck --op NAME` in a code block."""
    out = []
    for page in sorted((root / "docs").rglob("*.md")):
        blocks, _ = parse_blocks(page)
        for b in blocks:
            if b.no_run:
                continue
            for k, line in enumerate(b.lines):
                if "xgrad gradcheck" not in line:
                    continue
                words = shlex.split(line, comments=True)
                op = None
                for j, w in enumerate(words):
                    if w == "--op" and j + 1 < len(words):
                        op = words[j + 1]
                out.append((page.relative_to(root), b.line + 1 + k, op))
    return out


def check_commands(root, xgrad):
    passed, failures = 0, []
    for page, line, op in gradcheck_commands(root):
        cmd = [xgrad, "gradcheck"] + (["--op", op] if op else [])
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode == 0 and " pass" in run.stdout:
            passed += 1
        else:
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["(no output)"]
            failures.append(f"{page}:{line}: `xgrad gradcheck{' --op ' + shlex.quote(op) if op else ''}` "
                            f"exited {run.returncode}: {tail[0]}")
    return passed, failures


def self_test():
    """The checker on a small made-up repository: a right snippet passes, a
    stale one, a missing file, an unmarked C++ block and an orphaned marker fail."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "docs").mkdir()
        (root / "src.hpp").write_text("struct A {\n    int x;\n    int y;\n};\n")
        (root / "docs" / "good.md").write_text(
            "<table><tr><td>\n\n<!-- snippet: src.hpp -->\n```cpp\n\n    int x;\n    int y;\n\n```\n\n</td></tr></table>\n"
            "```sh\nls\n```\n")
        passed, failures = check_snippets(root)
        assert (passed, failures) == (1, []), (passed, failures)
        (root / "docs" / "bad.md").write_text(
            "<!-- snippet: src.hpp -->\n```cpp\n    int x;\n    int z;\n```\n"
            "<!-- snippet: missing.hpp -->\n```cpp\nint x;\n```\n"
            "```cpp\nint unmarked;\n```\n"
            "<!-- snippet: src.hpp -->\nsome prose\n")
        passed, failures = check_snippets(root)
        assert passed == 1 and len(failures) == 4, (passed, failures)
        assert any("block line 2 differs" in f for f in failures), failures
        (root / "docs" / "links.md").write_text(
            "# A page\n## Recording the graph: `Tensor::from_op`\n"
            "[ok](good.md) [ok](links.md#recording-the-graph-tensorfrom_op) [ok](../src.hpp) [web](https://x.org)\n"
            "[bad](nothere.md) [bad](good.md#no-such-heading)\n```sh\n[not a link](nowhere)\n```\n")
        passed, failures = check_links(root)
        assert passed == 3 and len(failures) == 2, (passed, failures)
    print("docs snippets: self-test passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[2]),
                        help="the repository root (default: two levels above this script)")
    parser.add_argument("--xgrad", help="also run every `xgrad gradcheck --op NAME` of the docs with this binary")
    parser.add_argument("--self-test", action="store_true", help="check the checker on a made-up repository")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return 0

    root = Path(args.root).resolve()
    passed, failures = check_snippets(root)
    if passed == 0 and not failures:
        failures.append(f"no snippet found in {root / 'docs'}/*.md: is the repository root right?")
    for f in failures:
        print(f"FAIL {f}")
    print(f"docs snippets: {passed} passed, {len(failures)} failed")
    ok = not failures
    lpassed, lfailures = check_links(root)
    for f in lfailures:
        print(f"FAIL {f}")
    print(f"docs links: {lpassed} passed, {len(lfailures)} failed")
    ok = ok and not lfailures
    if args.xgrad:
        cpassed, cfailures = check_commands(root, args.xgrad)
        for f in cfailures:
            print(f"FAIL {f}")
        print(f"docs gradcheck commands: {cpassed} passed, {len(cfailures)} failed")
        ok = ok and not cfailures
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

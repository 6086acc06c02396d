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

With --run-pages (and --xgrad), the shell blocks of README.md and of every
page of docs/ run top to bottom as a learner types them, in a fresh copy of
the repository (its tracked files) with build/ pointing at the build folder:
README.md in one copy, docs/README.md then docs/*.md in another (a learner
reads them in order, and a page may use what an earlier one wrote),
docs/blog/ in a third. README.md's python blocks run too, as one script per
run of consecutive blocks, with /usr/bin/python3 (XGRAD_DOCS_PYTHON) when it
has torch, else they are skipped with the reason printed; the python blocks of
docs/ quote the lecture's code and are never run. Not run: a block preceded by
`<!-- docs-test: skip (REASON) -->` or `<!-- no-run: REASON -->`. What the
learner's machine has and the test's has not is rewritten, line by line:
  - `scripts/bootstrap.sh` is dropped and a leading `cmake --build ... &&` is
    removed: the tree is built already;
  - `wget .../input.txt` copies ../shared/data/tinyshakespeare.txt
    (--data) instead: tests download nothing; without that file, a copy whose
    pages read input.txt is skipped, saying so;
  - every `xgrad train` trains briefly: `--max-iters N --eval-interval N
    --eval-iters 2 --batch-size 4` replace the page's (N from
    XGRAD_DOCS_MAX_ITERS, default 4), and a `--resume` line, which may change
    only --max-iters, --threads and --sample-tokens, gets `--max-iters 2N`;
    every one gets `--threads 1 --sample-tokens 20` (on a machine busier than
    its cores, two threads' barriers cost minutes).

    usage: tests/cli/docs_snippets.py [REPO_ROOT] [--xgrad path/to/xgrad] [--self-test]
                                      [--run-pages [--data FILE] [--jobs N] [--only PAGE]]

Prints `docs snippets: N passed, M failed` (and the same for links and
commands) and exits 1 on any failure.
Python 3 standard library only.
"""

import argparse
import concurrent.futures
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(\S+)\s*-->\s*$")
NO_SNIPPET = re.compile(r"^\s*<!--\s*no-snippet:.*-->\s*$")
NO_RUN = re.compile(r"^\s*<!--\s*(?:no-run:|docs-test:\s*skip\b).*-->\s*$")
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


SHELL_LANGS = {"sh", "bash", "shell"}
WGET_INPUT = re.compile(r"^\s*wget\s+\S*/input\.txt\s*$")
CMAKE_BUILD = re.compile(r"^\s*cmake --build\b[^&]*(&&\s*|$)")
TRAIN_FLAGS = re.compile(r"\s--(max-iters|eval-interval|eval-iters|batch-size|threads|sample-tokens)(=|\s+)\S+")


def lanes(root):
    """The pages a learner reads in one go, each list in one fresh copy."""
    docs = sorted((root / "docs").glob("*.md"), key=lambda p: (p.name != "README.md", p.name))
    blog = sorted((root / "docs" / "blog").glob("*.md"), key=lambda p: (p.name != "README.md", p.name))
    return [[root / "README.md"], docs, blog]


def rewrite_line(line, data, iters):
    """A page's shell line as the test runs it (the rules in this file's docstring)."""
    if re.match(r"^\s*scripts/bootstrap\.sh\b", line):
        return ""
    if WGET_INPUT.match(line):
        return f"cp {shlex.quote(str(data))} input.txt"
    line = CMAKE_BUILD.sub("", line)
    if "xgrad train" in line:
        flags = f"--max-iters {2 * iters}" if "--resume" in line else (
            f"--max-iters {iters} --eval-interval {iters} --eval-iters 2 --batch-size 4")
        flags += " --threads 1 --sample-tokens 20"
        line = TRAIN_FLAGS.sub("", line).replace("xgrad train", f"xgrad train {flags}", 1)
    return line


def copy_repo(root, build_dir):
    """A fresh copy of the repository's tracked files, build/ a link to the build."""
    dest = Path(tempfile.mkdtemp(prefix="xgrad-docs-"))
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True)
    files = [f for f in listed.stdout.decode().split("\0") if f] if listed.returncode == 0 else None
    if files is None:  # not a git checkout: every file but builds
        files = [str(p.relative_to(root)) for p in root.rglob("*")
                 if p.is_file() and not p.relative_to(root).parts[0].startswith(("build", ".git"))]
    for f in files:
        src = root / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    (dest / "build").symlink_to(Path(build_dir).resolve())
    return dest


def torch_python():
    python = os.environ.get("XGRAD_DOCS_PYTHON", "/usr/bin/python3")
    try:
        ok = subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0
    except OSError:
        ok = False
    return python if ok else None


def run_script(lang, script, cwd, python):
    """(exit code, output) of one block (or a python script) in cwd."""
    if lang == "python":
        cmd = [python, "-c", script]
    else:
        cmd = ["bash", "-e", "-o", "pipefail", "-c",
               "trap 'echo \"docs-test: failed: $BASH_COMMAND\" >&2' ERR\n" + script]
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    return p.returncode, p.stdout


def run_lane(root, pages, build_dir, data, iters):
    """Runs the pages' blocks in order in one fresh copy. Returns (ran, skipped, failures, notes)."""
    ran, skipped, failures, notes = 0, 0, [], []
    texts = "".join(p.read_text(encoding="utf-8") for p in pages)
    if "input.txt" in texts and not data.is_file():
        notes.append(f"{', '.join(str(p.relative_to(root)) for p in pages)}: skipped, {data} not found")
        return ran, skipped, failures, notes
    python = torch_python()
    cwd = copy_repo(root, build_dir)
    try:
        for page in pages:
            rel = page.relative_to(root)
            blocks, _ = parse_blocks(page)
            pending = []  # consecutive python blocks of README.md: one script
            todo = []
            for b in blocks:
                if b.no_run:
                    skipped += 1
                elif b.lang in SHELL_LANGS:
                    todo.append(("sh", b))
                elif b.lang == "python" and page.name == "README.md" and page.parent == root:
                    todo.append(("python", b))
            for i, (lang, b) in enumerate(todo):
                if lang == "python":
                    pending.append(b)
                    if i + 1 < len(todo) and todo[i + 1][0] == "python":
                        continue
                    if python is None:
                        notes.append(f"{rel}:{pending[0].line}: python blocks skipped: no torch in "
                                     f"{os.environ.get('XGRAD_DOCS_PYTHON', '/usr/bin/python3')}")
                        skipped += len(pending)
                        pending = []
                        continue
                    script, first = "\n".join("\n".join(p.lines) for p in pending), pending[0]
                    count, pending = len(pending), []
                else:
                    script, first, count = "\n".join(rewrite_line(l, data, iters) for l in b.lines), b, 1
                t = time.monotonic()
                rc, out = run_script(lang, script, cwd, python)
                ran += count
                notes.append(f"{rel}:{first.line}: {lang} block, {time.monotonic() - t:.1f} s")
                if rc != 0:
                    tail = [l for l in out.strip().splitlines() if l.strip()][-3:] or ["(no output)"]
                    failures.append(f"{rel}:{first.line} ({lang} block) exited {rc}:\n      " + "\n      ".join(tail))
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
    return ran, skipped, failures, notes


def run_pages(root, build_dir, data, jobs, only=None):
    iters = int(os.environ.get("XGRAD_DOCS_MAX_ITERS", "4"))
    ran, skipped, failures = 0, 0, []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        chosen = [lane for lane in lanes(root) if not only or only in str(lane[0].relative_to(root))]
        for r, s, f, notes in pool.map(lambda pages: run_lane(root, pages, build_dir, data, iters), chosen):
            ran, skipped, failures = ran + r, skipped + s, failures + f
            for n in notes:
                print(f"docs pages: {n}")
    return ran, skipped, failures


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
        # a page's blocks run in order in a copy (a file the first writes, the second reads);
        # a failing one is reported, a skipped one is not run
        (root / "README.md").write_text(
            "```sh\necho hi > made.txt\n```\n```sh\ngrep -q hi made.txt\n```\n"
            "<!-- docs-test: skip (made up) -->\n```sh\nfalse\n```\n```sh\nls nothere\n```\n")
        ran, skipped, failures, _ = run_lane(root, [root / "README.md"], root, Path("/nonexistent"), 4)
        assert (ran, skipped, len(failures)) == (3, 1, 1) and "README.md:11" in failures[0], (ran, skipped, failures)
    # the learner's lines as --run-pages runs them
    data = Path("/d/tiny.txt")
    assert rewrite_line("scripts/bootstrap.sh   # builds", data, 4) == ""
    assert rewrite_line("wget https://x.org/a/input.txt", data, 4) == "cp /d/tiny.txt input.txt"
    assert rewrite_line("cmake --build build --target t && build/t", data, 4) == "build/t"
    assert rewrite_line("build/xgrad train --model gpt --max-iters 60 --threads 2 --out g.st", data, 4) == (
        "build/xgrad train --max-iters 4 --eval-interval 4 --eval-iters 2 --batch-size 4 --threads 1 "
        "--sample-tokens 20 --model gpt --out g.st"), rewrite_line("build/xgrad train --model gpt --max-iters 60", data, 4)
    assert rewrite_line("build/xgrad train --resume g.st", data, 4) == (
        "build/xgrad train --max-iters 8 --threads 1 --sample-tokens 20 --resume g.st")
    assert rewrite_line("build/xgrad sample --checkpoint g.st", data, 4) == "build/xgrad sample --checkpoint g.st"
    print("docs snippets: self-test passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[2]),
                        help="the repository root (default: two levels above this script)")
    parser.add_argument("--xgrad", help="also run every `xgrad gradcheck --op NAME` of the docs with this binary")
    parser.add_argument("--self-test", action="store_true", help="check the checker on a made-up repository")
    parser.add_argument("--run-pages", action="store_true",
                        help="run the shell blocks of README.md and docs/ in fresh copies (needs --xgrad)")
    parser.add_argument("--data", help="tiny Shakespeare, for `wget .../input.txt` (default ../shared/data/tinyshakespeare.txt)")
    parser.add_argument("--jobs", type=int, default=1, help="copies run at once (--run-pages)")
    parser.add_argument("--only", help="--run-pages: only the copies whose pages' paths contain this")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return 0

    root = Path(args.root).resolve()
    if args.run_pages:
        if not args.xgrad:
            parser.error("--run-pages needs --xgrad")
        data = Path(args.data) if args.data else root.parent / "shared" / "data" / "tinyshakespeare.txt"
        if not data.is_file():
            # the pages train on the lecture's input.txt, and a test never downloads it
            print(f"docs pages: skipped: {data} not found (the pages' commands train on tiny Shakespeare)")
            return 77
        started = time.monotonic()
        ran, skipped, failures = run_pages(root, Path(args.xgrad).resolve().parent, data, args.jobs, args.only)
        for f in failures:
            print(f"FAIL {f}")
        print(f"docs pages: {ran} blocks ran, {skipped} skipped, {len(failures)} failed, in {time.monotonic() - started:.0f} s")
        return 0 if ran and not failures else 1
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

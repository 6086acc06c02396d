#!/usr/bin/env python3
"""Reruns the command behind every measured figure of README.md and docs/ and
rewrites the figure with what the command prints (or, with --check, says where
a page no longer says it).

A figure is the text between two HTML comments, invisible on the rendered page:

    <!-- figure cmd='build/xgrad train --model head --data input.txt --threads 1'
         match='step 4999: train loss [0-9.]+, val loss ([0-9.]+)' -->**2.4802**<!-- /figure -->

  cmd='...'    the command, run by bash in a fresh folder that holds the
               repository's files (symlinked), build/ (the build folder) and
               input.txt (the lecture's tiny Shakespeare); its stdout and stderr
               together are what `match` searches
  run=NAME     instead of cmd: the command of a `<!-- figure-run NAME cmd='...' -->`
               line on any page (one run shared by several figures)
  match='RE'   a Python regular expression; its groups are g1, g2, ...
  calc='EXPR'  the figure is this Python expression of g1, g2, ... (floats);
               without it, the figure is g1
  tol=X        on a CPU other than the one the page was measured on (its
               `<!-- figure cpu -->` figure), the page may differ from the
               command by up to X (or X% of the value): other CPUs' kernels round
               differently. On the same CPU a figure must match to the digits shown.
  slow         refreshed and checked only by a full run (not --fast): over a
               minute, or a timing (speed is measured, never tested)

An inline figure is a number (its decimals and thousands commas are kept when
it is rewritten: 2.4802, 112,193, **3.7**). A figure whose opening and closing
comments stand alone on their lines is a block: the lines between them are
replaced by the command's match (group 1, or the whole output without
`match`), compared as text; a bench table is wired in with one such block.
`<!-- figure cpu -->...<!-- /figure -->` is this machine's CPU model: rewritten
with the page's figures, and never a failure of the check.

Each command runs once however many figures use it; the same cmd string is
the same run. A figure's page holds the command the reader would type, so
the pages' commands are the ones measured.

    usage: scripts/refresh_figures.py [--fast] [--check] [--build-dir build]
                                      [--data PATH] [--jobs N] [--only PAGE] [--cmd TEXT]

Prints each command's time and at the end the whole runtime. Exits 1 when a
command fails or its output has no match, and with --check when a page differs.
Python 3 standard library only.
"""

import argparse
import concurrent.futures
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = re.compile(r"<!--\s*figure(?![-\w])(?P<attrs>(?:(?!-->).)*?)-->(?P<text>.*?)<!--\s*/figure\s*-->", re.S)
RUN = re.compile(r"<!--\s*figure-run\s+(?P<name>\S+)(?P<attrs>(?:(?!-->).)*?)-->", re.S)
NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def parse_attrs(text):
    """'cmd=\\'a b\\' tol=0.01 slow' -> {'cmd': 'a b', 'tol': '0.01', 'slow': True}"""
    attrs = {}
    for word in shlex.split(text):
        key, eq, value = word.partition("=")
        attrs[key] = value if eq else True
    return attrs


class Figure:
    def __init__(self, page, match, runs):
        self.page = page
        self.start, self.end = match.span("text")
        self.text = match.group("text")
        self.line = page.read_text(encoding="utf-8").count("\n", 0, self.start) + 1
        self.key = " ".join(match.group("attrs").split())  # with its position among equals: finds it again
        self.attrs = parse_attrs(self.key)
        self.is_cpu = "cpu" in self.attrs
        self.block = self.text.startswith("\n") and self.text.endswith("\n")
        if "run" in self.attrs:
            if self.attrs["run"] not in runs:
                raise SystemExit(f"{self.where()}: no <!-- figure-run {self.attrs['run']} ... --> on any page")
            self.attrs = {**runs[self.attrs["run"]], **self.attrs}
        self.cmd = self.attrs.get("cmd")
        self.slow = bool(self.attrs.get("slow"))
        if not self.is_cpu and not self.cmd:
            raise SystemExit(f"{self.where()}: a figure needs cmd='...' or run=NAME")

    def where(self):
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def value(self, output):
        """What the figure should say, from its command's output (None: no match)."""
        pattern = self.attrs.get("match")
        if self.block and not pattern:
            return output
        m = re.search(pattern, output, re.M | (re.S if self.block else 0))
        if not m:
            return None
        if self.block:
            return m.group(1) if m.groups() else m.group(0)
        groups = {f"g{i}": float(g.replace(",", "")) for i, g in enumerate(m.groups(), 1)}
        expr = self.attrs.get("calc", "g1")
        return float(eval(expr, {"math": math, "round": round, "min": min, "max": max, "abs": abs, "__builtins__": {}}, groups))  # the docs' own expressions

    def render(self, value):
        """The figure's text with value written as the page writes its number."""
        if self.block:
            return "\n" + value.strip("\n") + "\n"
        m = NUMBER.search(self.text)
        if not m:
            raise SystemExit(f"{self.where()}: the figure {self.text!r} holds no number")
        shown = m.group(0)
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        number = f"{value:,.{decimals}f}" if "," in shown else f"{value:.{decimals}f}"
        return self.text[: m.start()] + number + self.text[m.end():]

    def agrees(self, value, same_cpu):
        """Whether the page's text says value: to the digits shown, or within tol on another CPU."""
        if self.render(value) == self.text:
            return True
        if self.block or same_cpu or "tol" not in self.attrs:
            return False
        shown = float(NUMBER.search(self.text).group(0).replace(",", ""))
        tol = self.attrs["tol"]
        limit = abs(value) * float(tol[:-1]) / 100 if tol.endswith("%") else float(tol)
        return abs(shown - value) <= limit


def write_figures(page, edits):
    """Rewrites the page's figures: the n-th figure with a given marker gets the
    n-th value measured for that marker. The page is read again, so prose edited
    while the commands ran is kept; written to a temporary file, then renamed."""
    queued = {}
    for key, rendered in edits:
        queued.setdefault(key, []).append(rendered)

    def replace(m):
        key = " ".join(m.group("attrs").split())
        if not queued.get(key):
            return m.group(0)
        return m.group(0)[: m.start("text") - m.start()] + queued[key].pop(0) + m.group(0)[m.end("text") - m.start():]

    text = FIGURE.sub(replace, page.read_text(encoding="utf-8"))
    tmp = page.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, page)


def pages():
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))


def collect(only):
    runs = {}
    for page in pages():
        for m in RUN.finditer(page.read_text(encoding="utf-8")):
            runs[m.group("name")] = parse_attrs(" ".join(m.group("attrs").split()))
    figures = []
    for page in pages():
        if only and only not in str(page.relative_to(ROOT)):
            continue
        for m in FIGURE.finditer(page.read_text(encoding="utf-8")):
            figures.append(Figure(page, m, runs))
    return figures


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def work_dir(build_dir, data):
    """A fresh folder that looks like the repository's root to a command."""
    d = Path(tempfile.mkdtemp(prefix="xgrad-figure-"))
    for entry in ROOT.iterdir():
        if entry.name not in ("build", ".git"):
            (d / entry.name).symlink_to(entry)
    (d / "build").symlink_to(build_dir.resolve())
    if data.is_file():
        (d / "input.txt").symlink_to(data.resolve())
    return d


def run(cmd, build_dir, data):
    """(output, seconds, exit code) of cmd in its own fresh folder."""
    d = work_dir(build_dir, data)
    t = time.monotonic()
    p = subprocess.run(["bash", "-c", cmd], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - t
    subprocess.run(["rm", "-rf", str(d)])
    return p.stdout, seconds, p.returncode


def run_all(cmds, args):
    outputs, failed = {}, False
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run, c, Path(args.build_dir), Path(args.data)): c for c in cmds}
        for f in concurrent.futures.as_completed(futures):
            cmd = futures[f]
            out, seconds, rc = f.result()
            print(f"{seconds:7.1f} s  {cmd}" + (f"  (exit {rc})" if rc else ""), flush=True)
            if rc:
                print("    " + "\n    ".join(out.strip().splitlines()[-5:]))
                failed = True
            outputs[cmd] = out
    return outputs, failed


def self_test():
    """The markers on a made-up page: parsing, rendering, the tolerance, rewriting."""
    global ROOT
    saved = ROOT
    with tempfile.TemporaryDirectory() as tmp:
        ROOT = Path(tmp)
        (ROOT / "docs").mkdir()
        (ROOT / "README.md").write_text(
            "<!-- figure-run r cmd='echo loss 2.40757 tokens 112585.4' -->\n"
            "| a | <!-- figure run=r match='loss ([0-9.]+)' tol=0.03 -->**2.4095**<!-- /figure --> |\n"
            "speed <!-- figure run=r match='tokens ([0-9.]+)' slow -->109,881<!-- /figure --> tokens/s, "
            "<!-- figure run=r match='tokens ([0-9.]+)' calc='5000*512/g1' slow -->24<!-- /figure --> s\n"
            "<!-- figure cmd='printf \"a\\nb\\n\"' -->\nold table\n<!-- /figure -->\n")
        loss, speed, secs, table = collect(None)
        assert (loss.cmd, loss.slow, speed.slow, table.block) == ("echo loss 2.40757 tokens 112585.4", False, True, True)
        out = "loss 2.40757 tokens 112585.4"
        assert loss.render(loss.value(out)) == "**2.4076**"  # the page's 4 decimals and bold
        assert speed.render(speed.value(out)) == "112,585"  # its thousands commas
        assert secs.render(secs.value(out)) == "23"
        assert not loss.agrees(2.40757, same_cpu=True)  # 2.4095 on the CPU it was measured on: a change
        assert loss.agrees(2.40757, same_cpu=False) and not loss.agrees(2.45, same_cpu=False)  # within 0.03, not 0.04
        assert table.render(table.value("a\nb\n")) == "\na\nb\n"
        # prose edited while the commands ran survives the rewrite
        page = ROOT / "README.md"
        page.write_text(page.read_text().replace("speed", "Speed now"))
        write_figures(page, [(loss.key, "**2.4076**"), (table.key, "\na\nb\n")])
        text = page.read_text()
        assert "-->**2.4076**<!--" in text and "Speed now" in text and "\na\nb\n<!-- /figure -->" in text, text
        assert "-->109,881<!--" in text  # not measured this time: left alone
    ROOT = saved
    print("refresh_figures: self-test passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="only the figures not marked slow")
    parser.add_argument("--check", action="store_true", help="compare, do not rewrite; exit 1 on a difference")
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the tiny Shakespeare file, as input.txt")
    parser.add_argument("--jobs", type=int, default=1, help="commands run at once (each --threads 1 run uses one core)")
    parser.add_argument("--only", help="only the pages whose path contains this")
    parser.add_argument("--cmd", help="only the figures whose command contains this")
    parser.add_argument("--self-test", action="store_true", help="check the markers' handling on a made-up page")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return 0
    started = time.monotonic()

    if not Path(args.data).is_file():
        print(f"refresh_figures: {args.data} not found (the figures are measured on tiny Shakespeare); skipped")
        return 77  # ctest's SKIP_RETURN_CODE: shown as skipped, never as passed
    figures = [f for f in collect(args.only) if not (args.fast and f.slow)
               and (not args.cmd or f.is_cpu or args.cmd in f.cmd)]
    cmds = sorted({f.cmd for f in figures if not f.is_cpu})
    outputs, failed = run_all(cmds, args)

    host = cpu_model()
    page_cpu = {f.page: f.text.strip() for f in collect(args.only) if f.is_cpu}
    new_text, differ = {}, 0
    for f in figures:
        if f.is_cpu:
            value = host
            rendered = host
        else:
            out = outputs.get(f.cmd)
            value = f.value(out) if out is not None else None
            if value is None:
                print(f"FAIL {f.where()}: no match for {f.attrs.get('match')!r} in the output of: {f.cmd}")
                failed = True
                continue
            rendered = f.render(value)
        if args.check:
            if f.is_cpu:
                continue
            if not f.agrees(value, page_cpu.get(f.page) == host):
                differ += 1
                shown = f.text.strip() if not f.block else f"{f.text.count(chr(10)) - 1} lines"
                print(f"FAIL {f.where()}: the page says {shown!r}, its command now gives {rendered.strip()!r} "
                      f"(tolerance {f.attrs.get('tol', 'none')}, page measured on "
                      f"{page_cpu.get(f.page, 'an unnamed CPU')!r}, this is {host!r}): {f.cmd}")
        else:
            new_text.setdefault(f.page, []).append((f.key, rendered))

    for page, edits in new_text.items():
        write_figures(page, edits)

    checked = len([f for f in figures if not f.is_cpu])
    if not checked:  # a marker or --only/--cmd that matches nothing must not pass as "0 differ"
        print("refresh_figures: no figure found to check or refresh")
        return 1
    verb = "checked" if args.check else "refreshed"
    print(f"refresh_figures: {verb} {checked} figures from {len(cmds)} commands"
          f"{' (the fast ones)' if args.fast else ''}, {differ} differ, in {time.monotonic() - started:.0f} s")
    return 1 if failed or differ else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The page of `xgrad serve` in a real browser: Debian's headless Chromium, driven by chromedriver through
python3-selenium, on a small checkpoint trained here and a server on 127.0.0.1 with a free port. Steps, each
with what it asserts:
  1. load the page: n_layer x n_head heatmaps (canvases) for the default text "The cat sat on the mat", one box
     per character, and the loss and the 10 next characters the page shows equal POST /api/attention's;
  2. hover a character: its box and, in every head, its row and column light up at that position, and the
     weights listed under each head are the top 3 of its row in the API's matrix;
  3. type new text: the heatmaps are redrawn (other pixels), one box per new character, and the numbers shown
     equal the API's on the new text;
  4. click a head, then a second: each is marked off, and the distribution and the loss shown are what
     POST /api/attention returns with that ablation; reset turns them all back on;
  5. the head table shows GET /api/heads' roles (the checkpoint's corpus, xgrad heads' JSON);
  6. sample: the streamed text on the page is POST /api/sample's with the same settings;
  7. every request the page made (Chrome's performance log: Network.requestWillBeSent) went to 127.0.0.1.
Exits 77 (ctest: skipped) with the reason when Chromium or its driver is not installed.
usage: tests/serve/browser_test.py path/to/xgrad [--screenshot out.png] [--checkpoint CK]"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_lib import Server, temp_folder, train_small  # noqa: E402

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
DEFAULT_TEXT = "The cat sat on the mat"
failures, checks = [], []


def check(name, ok, detail=""):
    checks.append(name)
    print(("ok:   " if ok else "FAIL: ") + name + ("" if ok else f" {detail}"[:600]))
    if not ok:
        failures.append(name)


def show(c):
    return {" ": "\u2423", "\n": "\u23CE", "\t": "\u21E5"}.get(c, c)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1300,1500",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='xgrad-chromium-')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


class Page:
    def __init__(self, driver):
        from selenium.webdriver.support.ui import WebDriverWait
        self.d, self.wait = driver, WebDriverWait(driver, 20)

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def version(self):
        return int(self.js("return document.getElementById('grid').dataset.version"))

    def wait_render(self, after):
        """Waits until the page has drawn a newer answer than `after`."""
        self.wait.until(lambda _: self.version() > after)

    def shown(self):
        """The loss and the next characters as the page shows them."""
        return self.js("""return {loss: document.getElementById('loss').textContent,
            next: [...document.querySelectorAll('#next tbody tr')].map(tr => [tr.querySelector('.tok').textContent,
                                                                             tr.querySelector('.p').textContent])};""")

    def canvases(self):
        return self.js("return [...document.querySelectorAll('#grid .head canvas')].map(c => c.toDataURL());")


def expected(api):
    return {"loss": f"{api['loss']:.4f}" if api["loss"] is not None else "none (one character)",
            "next": [[show(n["token"]), f"{n['p']:.4f}"] for n in api["next"]]}


def step_load(page, server, model):
    page.d.get(server.url)
    page.wait_render(0)
    L, H = model["n_layer"], model["n_head"]
    api = server.post("/api/attention", {"text": DEFAULT_TEXT})
    heads = page.js("return [...document.querySelectorAll('#grid .head')].map(b => [+b.dataset.layer, +b.dataset.head, "
                    "b.querySelectorAll('canvas').length]);")
    check(f"load: {L} x {H} heatmaps", heads == [[l, h, 1] for l in range(L) for h in range(H)], heads)
    check("load: the default text, one box per character",
          page.js("return document.getElementById('text').value") == DEFAULT_TEXT and
          page.js("return document.querySelectorAll('#chars span').length") == len(DEFAULT_TEXT))
    check("load: the loss and the next characters shown equal the API's", page.shown() == expected(api), (page.shown(), expected(api)))
    return api


def step_hover(page, api, position):
    from selenium.webdriver.common.action_chains import ActionChains
    span = page.d.find_elements("css selector", "#chars span")[position]
    ActionChains(page.d).move_to_element(span).perform()
    got = page.js("""const i = arguments[0];
        return {span: document.querySelectorAll('#chars span')[i].classList.contains('hover'),
                boxes: [...document.querySelectorAll('#grid .head')].map(b => {
                  const r = b.querySelector('.hl-row'), c = b.querySelector('.hl-col');
                  return {row: [getComputedStyle(r).display, r.offsetTop, r.offsetHeight],
                          col: [getComputedStyle(c).display, c.offsetLeft, c.offsetWidth],
                          weights: JSON.parse(b.querySelector('.info').dataset.row || '[]'),
                          text: b.querySelector('.info').textContent};
                })};""", position)
    T = len(api["tokens"])
    cell = max(1, min(14, 220 // T))
    margin = cell + 2 if cell >= 9 else 0
    check("hover: the character's box is marked", got["span"])
    check("hover: its row and column light up in every head, at its position",
          all(b["row"] == ["block", margin + position * cell, cell] and b["col"] == ["block", margin + position * cell, cell]
              for b in got["boxes"]), got["boxes"][:1])
    flat = [A for layer in api["attention"] for A in layer]
    want = [sorted(enumerate(A[position][: position + 1]), key=lambda p: (-p[1], p[0]))[:3] for A in flat]
    check("hover: each head lists the top 3 weights of the API's row",
          [[list(p) for p in w] for w in want] == [b["weights"] for b in got["boxes"]] and
          all(f"{w[0][1]:.3f}" in b["text"] for w, b in zip(want, got["boxes"])), (want[:1], got["boxes"][:1]))


def step_type(page, server, text):
    before, version = page.canvases(), page.version()
    box = page.d.find_element("id", "text")
    box.clear()
    box.send_keys(text)
    page.wait.until(lambda _: page.js("return document.querySelectorAll('#chars span').length") == len(text))
    page.wait.until(lambda _: page.version() > version)
    api = server.post("/api/attention", {"text": text})
    after = page.canvases()
    check("type: the heatmaps change", len(after) == len(before) and all(a != b for a, b in zip(after, before)))
    check("type: the numbers shown equal the API's on the new text", page.shown() == expected(api), (page.shown(), expected(api)))
    return api


def click_head(page, layer, head):
    version = page.version()
    page.d.find_element("css selector", f"#grid .head[data-layer='{layer}'][data-head='{head}'] canvas").click()
    page.wait_render(version)


def step_ablate(page, server, text, base):
    click_head(page, 0, 1)
    one = server.post("/api/attention", {"text": text, "ablate": [[0, 1]]})
    off = page.js("return [...document.querySelectorAll('#grid .head.off')].map(b => [+b.dataset.layer, +b.dataset.head]);")
    check("click a head: it is marked off", off == [[0, 1]], off)
    check("click a head: the distribution and loss shown are the API's with that ablation",
          page.shown() == expected(one) and expected(one) != expected(base), (page.shown(), expected(one)))
    click_head(page, 1, 0)
    two = server.post("/api/attention", {"text": text, "ablate": [[0, 1], [1, 0]]})
    check("click a second head: both off, the API's numbers with both off", page.shown() == expected(two) and
          page.js("return document.querySelectorAll('#grid .head.off').length") == 2, (page.shown(), expected(two)))
    version = page.version()
    page.d.find_element("id", "reset").click()
    page.wait_render(version)
    check("reset: every head on, the numbers without ablation",
          page.shown() == expected(base) and page.js("return document.querySelectorAll('#grid .head.off').length") == 0)


def step_heads_table(page, server):
    page.wait.until(lambda _: page.js("return document.querySelectorAll('#heads-table tbody tr').length") > 0)
    api = server.get("/api/heads")
    roles = page.js("return [...document.querySelectorAll('#heads-table tbody tr')].map(tr => tr.children[2].textContent);")
    check("heads table: GET /api/heads' roles, one row per head", roles == [h["role"] for h in api["heads"]], roles)


def step_sample(page, server, text):
    page.js("document.getElementById('s-tokens').value = '80'; document.getElementById('s-seed').value = '42';")
    page.d.find_element("id", "s-go").click()
    page.wait.until(lambda _: page.js("return document.getElementById('sample-out').dataset.done") == "1")
    shown = page.js("return document.getElementById('sample-out').textContent")
    api = server.post("/api/sample", {"prompt": text, "tokens": 80, "temperature": 1.0, "top_k": 0, "seed": 42})["text"]
    check("sample: the streamed text is the API's", shown == api, (shown, api))


def step_network(page, server):
    """The page's requests (documentURL: the page) all went to 127.0.0.1; and no request of the browser at all went
    over the network anywhere else (its own new tab loads chrome:// and data: resources, which are not network)."""
    requests = []
    for entry in page.d.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append((message["params"]["documentURL"], message["params"]["request"]["url"]))
    ours = [url for doc, url in requests if doc.startswith(server.url)]
    network = [url for _, url in requests if urlparse(url).scheme not in ("chrome", "data", "blob", "about")]
    check("network: every request of the page went to 127.0.0.1", len(ours) >= 5 and
          all(urlparse(u).hostname == "127.0.0.1" for u in ours), ours[:8])
    check("network: no request of the browser left 127.0.0.1",
          all(urlparse(u).hostname == "127.0.0.1" for u in network), [u for u in network if "127.0.0.1" not in u][:8])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("xgrad")
    parser.add_argument("--screenshot", help="also save a picture of the page here")
    parser.add_argument("--checkpoint", help="a checkpoint of your own instead of the small one trained here")
    a = parser.parse_args()
    for path in (CHROMIUM, DRIVER):
        if not shutil.which(path):
            print(f"skipped: {path} is not installed (Debian's chromium and chromium-driver)")
            return 77
    with temp_folder() as d:
        ck = a.checkpoint or train_small(os.path.abspath(a.xgrad), d)
        with Server(os.path.abspath(a.xgrad), ck, cwd=None if a.checkpoint else d) as server:
            model = server.get("/api/model")
            driver = browser()
            try:
                page = Page(driver)
                base = step_load(page, server, model)
                step_hover(page, base, 4)
                if a.screenshot:
                    step_heads_table(page, server)
                    driver.save_screenshot(a.screenshot)
                    return 0
                new_text = "A dog ran to the cat."
                typed = step_type(page, server, new_text)
                step_ablate(page, server, new_text, typed)
                step_heads_table(page, server)
                step_sample(page, server, new_text)
                step_network(page, server)
            finally:
                driver.quit()
    print(f"serve browser: {len(checks) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

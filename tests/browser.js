#!/usr/bin/env node
// browser.js -- the HTML book in a real browser (tests/test_browser.sh runs it).
//
// Opens every page of book/html/ from disk (file://, as a reader does) in
// Debian's Chromium, driven headless by puppeteer-core (npm, pinned), and checks:
//   * no JavaScript error, no failed request (script, style, font, image);
//   * KaTeX rendered every formula: no span.math left unrendered, no raw
//     $...\cmd...$ or \frac in the visible text;
//   * every internal link and chunk reference resolves to an element with
//     that id on the page it names;
//   * every image loaded (both the light and the dark drawing of a figure);
//   * search: a term of chapter 1 finds a result linking into chapter 1,
//     each chapter's first identifier finds the chunk that defines it, and
//     following a result lands on an existing anchor;
//   * dark mode: following the system setting and through the toggle, which
//     is remembered across pages; the dark drawing of each figure is the one
//     shown; code highlighting and math keep their contrast.
// Screenshots of a page with math, code and a figure, light and dark, go to
// build/screenshots/.  Prints "N passed, N failed".
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");

const root = path.resolve(__dirname, "..");
const htmlDir = path.join(root, "book/html");
const shotDir = path.join(root, "build/screenshots");
let passed = 0, failed = 0;

const t0 = Date.now();
const timing = process.env.BROWSER_TIMING;
function check(ok, what) {
  if (timing) console.log(((Date.now() - t0) / 1000).toFixed(1) + "s " + what);
  if (ok) passed++;
  else { failed++; console.log("FAIL browser: " + what); }
}

function chromiumPath() {
  for (const p of [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"])
    if (p && fs.existsSync(p)) return p;
  return null;
}

const url = (name) => "file://" + path.join(htmlDir, name);

// In the page: everything a check needs, gathered at once.
function inspect() {
  const skip = new Set(["SCRIPT", "STYLE", "CODE", "PRE", "TEXTAREA", "NOSCRIPT"]);
  const text = [];
  const walk = (n) => {
    if (n.nodeType === 3) { text.push(n.data); return; }
    if (n.nodeType !== 1 || skip.has(n.tagName)) return;
    if (n.classList.contains("katex") || n.classList.contains("katex-display")) return;
    for (const c of n.childNodes) walk(c);
  };
  walk(document.body);
  const imgs = [...document.images].map((i) => ({
    src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0,
  }));
  return {
    ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
    hrefs: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
    uses: document.querySelectorAll(".nw-use a").length,
    mathTotal: document.querySelectorAll("span.math").length,
    mathUnrendered: [...document.querySelectorAll("span.math")].filter((s) => !s.querySelector(".katex")).length,
    text: text.join(" "),
    imgs,
    searchBox: !!document.getElementById("search-box"),
    anchorless: [...document.querySelectorAll(".nw-chunk, figure")].filter((e) => !e.id).length,
    anchored: document.querySelectorAll(".nw-chunk[id], figure[id]").length,
    prevNext: [...document.querySelectorAll('a[rel="prev"], a[rel="next"]')].map((a) => a.getAttribute("href")),
    toc: document.querySelectorAll("#TOC a").length,
    firstIdent: (document.querySelector(".nw-ident-index li code") || {}).textContent || null,
    firstIdentHref: ((document.querySelector(".nw-ident-index li a") || {}).getAttribute || (() => null))
      .call(document.querySelector(".nw-ident-index li a"), "href"),
  };
}

function luminance(rgb) {
  const m = rgb.match(/[\d.]+/g).map(Number);
  const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(m[0]) + 0.7152 * f(m[1]) + 0.0722 * f(m[2]);
}
function contrast(a, b) {
  const x = luminance(a), y = luminance(b);
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

// In the page: the colours that must stay legible in the current theme.
function colours() {
  const cs = (e) => getComputedStyle(e);
  const bgOf = (e) => {
    for (; e; e = e.parentElement) {
      const c = cs(e).backgroundColor;
      if (c && !/rgba\(0, 0, 0, 0\)|transparent/.test(c)) return c;
    }
    return "rgb(255, 255, 255)";
  };
  const out = [];
  for (const sel of [".nw-code .kw", ".nw-code .ty", ".nw-code .st", ".nw-code .co", ".nw-code .nu",
    ".nw-code .pp", ".nw-code", ".nw-use", "main p", "main .katex", "figcaption", "main a"]) {
    const e = document.querySelector(sel);
    if (e) out.push({ sel, fg: cs(e).color, bg: bgOf(e) });
  }
  const shown = (e) => e.offsetParent !== null || cs(e).display !== "none";
  return {
    colours: out,
    page: cs(document.documentElement).backgroundColor,
    theme: document.documentElement.getAttribute("data-theme"),
    darkShown: [...document.querySelectorAll("figure img.only-dark")].filter(shown).length,
    lightShown: [...document.querySelectorAll("figure img.only-light")].filter(shown).length,
    darkTotal: document.querySelectorAll("figure img.only-dark").length,
  };
}

async function screenshot(page, file) {
  // A view with math, code and a figure: the first figure that fits in the
  // window together with a code chunk and a formula.
  await page.evaluate(() => {
    const top = (e) => e.getBoundingClientRect().top + window.scrollY;
    const h = window.innerHeight;
    const maths = [...document.querySelectorAll("main .katex")].map(top);
    const chunks = [...document.querySelectorAll(".nw-chunk")].map(top);
    for (const fig of document.querySelectorAll("figure")) {
      const bottom = top(fig) + fig.getBoundingClientRect().height;
      const y = Math.max(0, bottom - h + 20);
      const inView = (t) => t >= y && t < y + h - 40;
      if (maths.some(inView) && chunks.some(inView)) { window.scrollTo(0, y); return; }
    }
    const fig = document.querySelector("figure");
    if (fig) window.scrollTo(0, Math.max(0, top(fig) - 200));
  });
  await new Promise((r) => setTimeout(r, 150));
  await page.screenshot({ path: file });
}

async function main() {
  let puppeteer;
  try { puppeteer = require("puppeteer-core"); } catch (e) {
    check(false, "puppeteer-core is installed (run tools/setup): " + e.message);
    return;
  }
  const exe = chromiumPath();
  check(exe, "Chromium is installed (run tools/setup)");
  if (!exe) return;
  const pages = fs.readdirSync(htmlDir).filter((f) => f.endsWith(".html")).sort();
  check(pages.includes("index.html") && pages.length > 1, "book/html has the contents page and chapters");
  fs.mkdirSync(shotDir, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "book-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: exe, headless: true, userDataDir: profile,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-dev-shm-usage", "--font-render-hinting=none"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1300, height: 1500 });
    let errors = [], failedReq = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("requestfailed", (r) => failedReq.push(r.url().replace("file://" + htmlDir + "/", "")));

    // Every page.
    const info = {};
    for (const name of pages) {
      errors = []; failedReq = [];
      await page.goto(url(name), { waitUntil: "load" });
      await page.waitForFunction(() => document.readyState === "complete");
      const d = await page.evaluate(inspect);
      info[name] = d;
      check(errors.length === 0, `${name}: no JavaScript errors${errors.length ? " (" + errors[0] + ")" : ""}`);
      check(failedReq.length === 0, `${name}: every request succeeds${failedReq.length ? " (" + failedReq.slice(0, 3).join(", ") + ")" : ""}`);
      check(d.mathUnrendered === 0, `${name}: KaTeX rendered all ${d.mathTotal} formulas (${d.mathUnrendered} left)`);
      const raw = d.text.match(/\$[^$\s][^$]*\\[a-zA-Z]+[^$]*\$|\\frac|\\sum_|\\\(|\\\[/);
      check(!raw, `${name}: no raw TeX in the visible text${raw ? " (" + raw[0].slice(0, 60) + ")" : ""}`);
      const bad = d.imgs.filter((i) => !i.ok).map((i) => i.src);
      check(bad.length === 0, `${name}: all ${d.imgs.length} images load${bad.length ? " (" + bad.join(", ") + ")" : ""}`);
    }
    // Links, resolved against the ids each page really has.
    for (const name of pages) {
      const bad = [];
      for (const h of info[name].hrefs) {
        if (/^[a-z]+:/.test(h)) continue;
        const [file, frag] = [h.split("#")[0], h.split("#").slice(1).join("#")];
        const target = file ? info[file] : info[name];
        if (!target) bad.push(h);
        else if (frag && !target.ids.includes(decodeURIComponent(frag))) bad.push(h);
      }
      check(bad.length === 0, `${name}: all ${info[name].hrefs.length} links and chunk references resolve` +
        (bad.length ? " (broken: " + bad.slice(0, 5).join(", ") + ")" : ""));
    }

    // Search, from the contents page (the box is the same on every page).
    const chapters = pages.filter((p) => /^\d\d-/.test(p));
    for (const name of pages) check(info[name].searchBox, `${name}: has the search box`);
    // Navigation: the chapters in order, each with its contents in the sidebar;
    // every chunk and figure carries an id a reader can link to.
    const order = pages.filter((p) => p !== "index.html");
    order.forEach((name, i) => {
      const want = [order[i - 1], order[i + 1]].filter(Boolean);
      const d = info[name];
      check(want.every((w) => d.prevNext.includes(w)) && d.hrefs.includes("index.html"),
        `${name}: links to the previous and next pages (${want.join(", ")}) and the contents`);
      check(d.toc > 0, `${name}: a sidebar with the chapter's contents (${d.toc} entries)`);
      check(d.anchorless === 0, `${name}: all ${d.anchored} chunks and figures have an anchor`);
    });
    const search = async (term) => {
      if (!page.url().endsWith("/index.html")) await page.goto(url("index.html"), { waitUntil: "load" });
      await page.click("#search-box", { clickCount: 3 });
      await page.keyboard.press("Backspace");
      await page.type("#search-box", term);
      await page.waitForFunction((t) => {
        const p = document.getElementById("search-results");
        return p && !p.hidden && p.textContent.length > 0 && document.getElementById("search-box").value === t;
      }, { timeout: 5000 }, term).catch(() => {});
      await new Promise((r) => setTimeout(r, 120));   // the box waits 80 ms after the last key
      return page.evaluate(() => [...document.querySelectorAll("#search-results a")].map((a) => a.getAttribute("href")));
    };
    for (const ch of chapters) {
      const id = info[ch].firstIdent;
      if (!id) continue;
      const hits = await search(id);
      const want = ch + info[ch].firstIdentHref;
      check(hits.includes(want), `search for the identifier ${id} finds its defining chunk ${want}`);
    }
    const none = await search("zzqxjv");
    check(none.length === 0, "a search for a word not in the book finds nothing");
    if (pages.includes("01-markov.html")) {
      const hits = await search("perplexity");
      check(hits.length > 0 && hits[0].startsWith("01-markov.html#"),
        `search for "perplexity" from the contents page: first hit in chapter 1 (${hits[0]})`);
      await page.screenshot({ path: path.join(shotDir, "search.png"), clip: { x: 0, y: 0, width: 1300, height: 800 } });
      const [f, a] = (hits[0] || "#").split("#");
      check(info[f] && info[f].ids.includes(a), `search hit ${hits[0]} names an existing anchor`);
      // follow it with the keyboard
      await Promise.all([page.waitForNavigation({ waitUntil: "domcontentloaded", timeout: 10000 }).catch(() => {}),
        page.keyboard.press("Enter")]);
      const landed = await page.evaluate(() => ({ href: location.href, ok: !!document.getElementById(decodeURIComponent(location.hash.slice(1))) }));
      check(landed.ok, `Enter follows the first search hit to an anchor (${landed.href.split("/").pop()})`);
    }

    // Dark mode: the system setting (switched on the open page, as a reader's
    // system would), then the toggle.
    const target = chapters[0] || pages[0];
    const legible = (c, mode) => {
      const weak = c.colours.filter((x) => contrast(x.fg, x.bg) < 3.5)
        .map((x) => `${x.sel} ${contrast(x.fg, x.bg).toFixed(1)}`);
      check(c.colours.length > 0 && weak.length === 0, `${target} (${mode}): text, code highlighting and math have contrast >= 3.5` +
        (weak.length ? " (" + weak.join(", ") + ")" : ""));
    };
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
    if (!page.url().includes(target)) await page.goto(url(target), { waitUntil: "load" });
    await page.waitForFunction(() => document.readyState === "complete");
    let c = await page.evaluate(colours);
    check(luminance(c.page) > 0.8, `${target} (light system setting): light background (${c.page})`);
    check(c.darkShown === 0 && c.lightShown === c.darkTotal, `${target} (light): the light drawing of every figure is shown`);
    legible(c, "light");
    await screenshot(page, path.join(shotDir, "light.png"));

    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
    c = await page.evaluate(colours);
    check(luminance(c.page) < 0.05, `${target} (dark system setting): dark background (${c.page})`);
    check(c.darkShown === c.darkTotal && c.lightShown === 0, `${target} (dark): the dark drawing of all ${c.darkTotal} figures is shown`);
    legible(c, "dark");
    await new Promise((r) => setTimeout(r, 300));     // let the dark figures decode
    await screenshot(page, path.join(shotDir, "dark.png"));

    // The toggle overrides the system setting and is remembered on other pages.
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
    await page.click("#theme-toggle");
    c = await page.evaluate(colours);
    check(c.theme === "dark" && luminance(c.page) < 0.05, "the toggle switches a light page to dark");
    await page.goto(url("index.html"), { waitUntil: "load" });
    c = await page.evaluate(colours);
    check(c.theme === "dark" && luminance(c.page) < 0.05, "the choice is remembered on the next page");
    await page.click("#theme-toggle");
    c = await page.evaluate(colours);
    check(c.theme === "light" && luminance(c.page) > 0.8, "the toggle switches back to light");
    await page.evaluate(() => localStorage.removeItem("theme"));
    for (const f of ["light.png", "dark.png", "search.png"]) {
      const p = path.join(shotDir, f);
      check(fs.existsSync(p) && fs.statSync(p).size > 20000, `screenshot build/screenshots/${f} taken`);
    }
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => check(false, "the browser tests ran to the end: " + (e && e.stack || e)))
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  });

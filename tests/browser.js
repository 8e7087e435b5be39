#!/usr/bin/env node
// browser.js -- the HTML book in a real browser (tests/test_browser.sh runs it).
//
// Opens every page of book/html/ from disk (file://, as a reader does) in
// Debian's Chromium, driven headless by puppeteer-core (npm, pinned), and checks:
//   * no JavaScript error, no failed request (script, style, font, image);
//   * the math is typeset in the page as built (book/filters/katex.lua): every
//     span.math holds KaTeX's rendering, no raw $...\cmd...$ or \frac in the
//     visible text, and the page loads no script to do it;
//   * with JavaScript off, on a phone's screen (390 px wide): every formula
//     is still typeset, no raw TeX shows, and nothing is wider than the
//     screen except inside something that scrolls sideways (a wide equation,
//     code, a table), so the page itself never scrolls sideways;
//   * every internal link and chunk reference resolves to an element with
//     that id on the page it names;
//   * every image loaded (both the light and the dark drawing of a figure);
//   * search: a term of chapter 1 finds a result linking into chapter 1,
//     each chapter's first identifier finds the chunk that defines it, and
//     following a result lands on an existing anchor;
//   * dark mode: following the system setting and through the toggle, which
//     is remembered across pages; the dark drawing of each figure is the one
//     shown; code highlighting and math keep their contrast.
// Screenshots of a page with math, code and a figure, light and dark, and of
// a phone's view of a wide equation, go to build/screenshots/.  Prints each
// page's load time (navigation start to the load event; BROWSER_LOADS=N
// loads each page N times and prints the median) and "N passed, N failed".
// BOOK_HTML names another directory of pages to check (default book/html).
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");

const root = path.resolve(__dirname, "..");
const htmlDir = path.resolve(process.env.BOOK_HTML || path.join(root, "book/html"));
const shotDir = path.join(root, "build/screenshots");
let passed = 0, failed = 0;

const loads = Math.max(1, parseInt(process.env.BROWSER_LOADS || "1", 10) || 1);
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
    mathErrors: document.querySelectorAll(".katex-error").length,
    katexScript: [...document.scripts].some((s) => /katex/i.test(s.src || "") || /katex\.render/.test(s.textContent)),
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

// In the page: elements that stick out of the window sideways and are not
// inside a container that scrolls sideways.
function overflow() {
  const W = document.documentElement.clientWidth;
  const scrolls = (e) => {
    for (let p = e.parentElement; p && p !== document.documentElement; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll") return true;
    }
    return false;
  };
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.classList.length ? "." + [...e.classList].join(".") : "");
  const bad = [];
  let scrollers = 0;
  for (const e of document.body.querySelectorAll("*")) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right <= W + 0.5 && r.left >= -0.5) continue;
    // KaTeX's MathML copy (for screen readers) is clipped out of sight; an
    // SVG's drawing is clipped by the SVG
    if (e.closest(".katex-mathml") || (e.ownerSVGElement && e.tagName !== "svg")) continue;
    if (scrolls(e)) { scrollers++; continue; }
    // name the outermost culprit, not each of its descendants
    let p = e.parentElement, inside = false;
    for (; p && p !== document.body; p = p.parentElement) if (bad.some((b) => b.el === p)) { inside = true; break; }
    const tex = e.closest(".katex") && e.closest(".katex").querySelector("annotation");
    if (!inside) bad.push({ el: e, what: `${name(e)} (${Math.round(r.left)}..${Math.round(r.right)} px` +
      (tex ? ` in $${tex.textContent.slice(0, 50)}$` : "") + ")" });
  }
  return {
    W, scrollW: document.documentElement.scrollWidth, bad: bad.map((b) => b.what), scrollers,
    wideMath: [...document.querySelectorAll(".katex-display")].filter((e) => e.scrollWidth > e.clientWidth + 1).length,
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
    const loadMs = {}, readyMs = {}, scriptMs = {};
    const rawTeX = (text) => text.match(/\$[^$\s][^$]*\\[a-zA-Z]+[^$]*\$|\\frac|\\sum_|\\\(|\\\[/);
    for (const name of pages) {
      errors = []; failedReq = [];
      // load time: navigation start to the end of the load event (by then
      // math typeset by a script in the page would be done too); with
      // BROWSER_LOADS=N the median of N loads (default 1)
      const times = [], ready = [], scripts = [];
      for (let k = 0; k < loads; k++) {
        await page.goto(url(name), { waitUntil: "load" });
        await page.waitForFunction(() => document.readyState === "complete");
        const nav = await page.evaluate(() => {
          const t = performance.getEntriesByType("navigation")[0];
          return [t.loadEventEnd, t.domContentLoadedEventEnd, t.domContentLoadedEventEnd - t.domContentLoadedEventStart];
        });
        times.push(nav[0]);
        ready.push(nav[1]);
        scripts.push(nav[2]);
      }
      const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      loadMs[name] = median(times);
      readyMs[name] = median(ready);
      scriptMs[name] = median(scripts);
      const d = await page.evaluate(inspect);
      info[name] = d;
      check(errors.length === 0, `${name}: no JavaScript errors${errors.length ? " (" + errors[0] + ")" : ""}`);
      check(failedReq.length === 0, `${name}: every request succeeds${failedReq.length ? " (" + failedReq.slice(0, 3).join(", ") + ")" : ""}`);
      check(d.mathUnrendered === 0 && d.mathErrors === 0,
        `${name}: all ${d.mathTotal} formulas typeset (${d.mathUnrendered} left, ${d.mathErrors} KaTeX errors)`);
      check(!d.katexScript, `${name}: the math comes typeset; no script typesets it in the browser`);
      const raw = rawTeX(d.text);
      check(!raw, `${name}: no raw TeX in the visible text${raw ? " (" + raw[0].slice(0, 60) + ")" : ""}`);
      const bad = d.imgs.filter((i) => !i.ok).map((i) => i.src);
      check(bad.length === 0, `${name}: all ${d.imgs.length} images load${bad.length ? " (" + bad.join(", ") + ")" : ""}`);
    }
    const ms = pages.map((n) => loadMs[n]);
    const rs = pages.map((n) => readyMs[n]);
    const sum = (xs) => xs.reduce((a, b) => a + b, 0).toFixed(0);
    console.log(`page load (ms, median of ${loads}; DOM ready, which includes typesetting by a script in the page / load event): ` +
      pages.map((n) => `${n} ${readyMs[n].toFixed(0)}/${loadMs[n].toFixed(0)}`).join(", ") +
      `; total ${sum(rs)}/${sum(ms)}, slowest ${Math.max(...rs).toFixed(0)}/${Math.max(...ms).toFixed(0)}`);
    console.log("scripts run when the DOM is ready (ms; typesetting math, where a page does it): " +
      pages.map((n) => `${n} ${scriptMs[n].toFixed(0)}`).join(", "));

    // With JavaScript off, on a phone: the math is there, and nothing but
    // scrolling containers is wider than the screen.
    {
      const phone = await browser.newPage();
      await phone.setJavaScriptEnabled(false);
      await phone.setViewport({ width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
      let shot = null;
      for (const name of pages) {
        await phone.goto(url(name), { waitUntil: "load" });
        const d = await phone.evaluate(inspect);
        check(d.mathUnrendered === 0 && d.mathErrors === 0,
          `${name} (JavaScript off): all ${d.mathTotal} formulas typeset (${d.mathUnrendered} not)`);
        const raw = rawTeX(d.text);
        check(!raw, `${name} (JavaScript off): no raw TeX in the visible text${raw ? " (" + raw[0].slice(0, 60) + ")" : ""}`);
        const o = await phone.evaluate(overflow);
        check(o.W === 390 && o.bad.length === 0 && o.scrollW <= o.W,
          `${name} at 390 px: nothing wider than the screen outside a sideways scroller ` +
          `(page ${o.scrollW} px wide for a ${o.W} px screen; ${o.scrollers} elements scroll inside their containers` +
          (o.bad.length ? "; sticking out: " + o.bad.slice(0, 4).join(", ") : "") + ")");
        if (!shot && o.wideMath > 0) shot = name;
      }
      if (shot) {
        await phone.goto(url(shot), { waitUntil: "load" });
        await phone.evaluate(() => {
          const e = [...document.querySelectorAll(".katex-display")].find((x) => x.scrollWidth > x.clientWidth + 1);
          window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 300);
        });
        await phone.screenshot({ path: path.join(shotDir, "phone.png") });
      }
      check(shot, "some page has an equation wider than a phone's screen, for the screenshot" + (shot ? ` (${shot})` : ""));
      await phone.close();
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
    for (const f of ["light.png", "dark.png", "search.png", "phone.png"]) {
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

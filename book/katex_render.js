#!/usr/bin/env node
// katex_render.js -- the book's math, typeset when the page is built.
//
//   node book/katex_render.js PAGE < formulas > html
//
// book/filters/katex.lua gathers every formula of a page and runs this once
// per page: stdin is the formulas, each "D" (display) or "I" (inline)
// followed by its TeX, separated by NUL characters; stdout is their HTML
// (KaTeX's HTML and MathML, exactly what KaTeX's own renderer would put
// into the page in the browser), in the same order, separated by NULs.
// The page then shows its math at once, without JavaScript.
//
// KaTeX is Debian's (libjs-katex, the same copy whose stylesheet and fonts
// the pages load), found at $KATEX_JS or /usr/share/javascript/katex.
// Macros defined in one formula (\gdef) hold for the rest of the page, as
// they did in the browser.  A formula KaTeX cannot parse is reported on
// stderr, one line naming the page and the formula, and left in the page
// as its TeX in a span of class katex-error, which tests/test_book.py fails on.
"use strict";
const fs = require("fs");

const page = process.argv[2] || "?";
const where = process.env.KATEX_JS || "/usr/share/javascript/katex/katex.min.js";
let katex;
try {
  katex = require(where);
} catch (e) {
  process.stderr.write(`katex_render: cannot load KaTeX from ${where} (install libjs-katex, or set KATEX_JS): ${e.message}\n`);
  process.exit(1);
}

const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// KaTeX's own warnings (a character it has no metrics for, say) name the page.
console.warn = (...args) => process.stderr.write(`book: ${page}: KaTeX: ${args.join(" ")}\n`);

const input = fs.readFileSync(0, "utf8");
const macros = {};
const out = [];
if (input.length) {
  for (const item of input.split("\0")) {
    const display = item[0] === "D";
    const tex = item.slice(1);
    const opts = { displayMode: display, throwOnError: true, macros, strict: "ignore" };
    try {
      out.push(katex.renderToString(tex, opts));
    } catch (e) {
      const shown = tex.replace(/\s+/g, " ").slice(0, 120);
      process.stderr.write(`book: ${page}: KaTeX cannot set ${display ? "$$" : "$"}${shown}${display ? "$$" : "$"}: ${String(e.message).split("\n")[0]}\n`);
      out.push(`<span class="katex-error" title="${escape(e.message)}">${escape(tex)}</span>`);
    }
  }
}
process.stdout.write(out.join("\0"));

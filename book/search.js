/* search.js -- the search box on every page of the HTML book.
 *
 * The index is built at `make html` time (book/search_index.js) into
 * search-index.js, a script that sets window.BOOK_SEARCH; it and MiniSearch
 * (minisearch.js, from npm) are loaded by <script> tags added on first use,
 * so that a page opens without them and search works from file:// with no
 * server.  Results link to a section, a code chunk, a figure or the chunk
 * defining an identifier.  Keys: "/" focuses the box, Up/Down move through
 * the results, Enter follows one, Escape closes.  A page opened with
 * ?search=TERMS shows the results for TERMS (a link to a search). */
(function () {
  "use strict";
  var box = document.getElementById("search-box");
  var panel = document.getElementById("search-results");
  if (!box || !panel) return;
  var engine = null, loading = null, selected = -1, timer = null;

  function load(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("cannot load " + src)); };
      document.head.appendChild(s);
    });
  }

  function ready() {
    if (engine) return Promise.resolve(engine);
    if (!loading) {
      loading = load("minisearch.js").then(function () { return load("search-index.js"); }).then(function () {
        var data = window.BOOK_SEARCH;
        engine = window.MiniSearch.loadJS(data.index, data.options);
        return engine;
      });
    }
    return loading;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  var KIND = { section: "section", chunk: "code", identifier: "identifier", figure: "figure" };

  function render(query, results) {
    panel.textContent = "";
    selected = -1;
    if (!query) { panel.hidden = true; return; }
    panel.hidden = false;
    if (!results.length) {
      panel.appendChild(el("p", "search-none", "Nothing found for \u201c" + query + "\u201d."));
      return;
    }
    var list = el("ol", "search-list");
    results.slice(0, 30).forEach(function (r) {
      var li = el("li");
      var a = el("a");
      a.href = r.href;
      var head = el("span", "search-head");
      head.appendChild(el("span", "search-kind search-kind-" + r.kind, KIND[r.kind] || r.kind));
      head.appendChild(el("span", "search-title", r.title));
      if (r.page) head.appendChild(el("span", "search-page", r.page));
      a.appendChild(head);
      if (r.excerpt) a.appendChild(el("span", "search-excerpt", r.excerpt));
      a.addEventListener("click", close);
      li.appendChild(a);
      list.appendChild(li);
    });
    panel.appendChild(list);
    if (results.length > 30)
      panel.appendChild(el("p", "search-none", (results.length - 30) + " more; add a word to narrow the search."));
  }

  function run() {
    var q = box.value.trim();
    if (!q) { render("", []); return; }
    ready().then(function (ms) {
      if (box.value.trim() !== q) return;
      var res = ms.search(q, { prefix: true, fuzzy: 0.15, combineWith: "AND", boost: { title: 3 } });
      if (!res.length) res = ms.search(q, { prefix: true, fuzzy: 0.2, combineWith: "OR", boost: { title: 3 } });
      render(q, res);
    }, function (err) {
      panel.hidden = false;
      panel.textContent = "Search is unavailable: " + err.message + " (run make html).";
    });
  }

  function close() { panel.hidden = true; selected = -1; }

  function move(d) {
    var links = panel.querySelectorAll("a");
    if (!links.length) return;
    selected = (selected + d + links.length) % links.length;
    links.forEach(function (a, i) { a.classList.toggle("search-selected", i === selected); });
    links[selected].scrollIntoView({ block: "nearest" });
  }

  box.addEventListener("focus", function () { ready().catch(function () {}); if (box.value.trim()) run(); });
  box.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 80); });
  box.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown") { move(1); e.preventDefault(); }
    else if (e.key === "ArrowUp") { move(-1); e.preventDefault(); }
    else if (e.key === "Escape") { close(); box.blur(); }
    else if (e.key === "Enter") {
      var links = panel.querySelectorAll("a");
      var a = links[selected >= 0 ? selected : 0];
      if (a) { close(); window.location.href = a.href; }
    }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "/" && document.activeElement !== box && !/INPUT|TEXTAREA/.test(document.activeElement.tagName)) {
      box.focus(); e.preventDefault();
    }
  });
  document.addEventListener("click", function (e) {
    if (!panel.contains(e.target) && e.target !== box) close();
  });

  var m = /[?&]search=([^&#]*)/.exec(window.location.search);
  if (m) {
    box.value = decodeURIComponent(m[1].replace(/\+/g, " "));
    run();
  }
})();

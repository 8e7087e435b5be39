-- book.lua -- the pandoc filter every page of the book goes through.
--
--  * Figures: an image alone in a paragraph with an id "fig:..." is a
--    numbered figure.  In HTML its caption starts "Figure N.k:" (N the chapter,
--    from the metadata field `chapter`); in LaTeX, LaTeX numbers it.  A
--    citation-like reference @fig:name in the prose becomes a link
--    "Figure N.k" (HTML) or "Figure~\ref{fig:name}" (LaTeX).  A reference to
--    a figure that does not exist stops the build.
--  * Tables: a table whose caption ends with {#tbl:name} gets the same
--    treatment, with "Table N.k".
--  * Identifiers of figures and tables are the chapter's own: chapters 3 and
--    4 may both have a {#tbl:activations}, and @tbl:activations refers to
--    the one in its own chapter.  Where several chapters share a document
--    (the PDF's LaTeX and the EPUB, from book/mkbook.py) each id is made
--    unique by its chapter, ch03-tbl:activations (appendix-A-... for an
--    appendix); a chapter's HTML page is the chapter alone and keeps the
--    ids as written (03-backprop.html#tbl:activations).  An id given twice in
--    one chapter is reported (and fails tests/test_book.py); a reference to
--    an id the chapter does not have stops the build.
--  * Chapter links: [chapter 4](ch:04) links to chapter 4's page when it
--    exists (the metadata field `chapters` lists the pages) and is plain
--    text until then, so that forward references can be written now;
--    ch:A is the first appendix.  In LaTeX they are plain text.
--  * Solutions: a div of class "solution" inside an exercise (an item of an
--    ordered list) folds away under a <details> element in HTML; in LaTeX it
--    is moved to a "Solutions" section at the end of its chapter, headed
--    with the exercise's number.  The EPUB does as the PDF does (e-readers
--    handle <details> poorly).
--  * Dark figures: in HTML a figure figures/x.svg that has a companion
--    figures/x-dark.svg (drawn by gnuplot for the dark background; see
--    figures/style.gp) shows one or the other, following the page's theme;
--    the <figure> element carries the figure's id, a stable anchor.
--  * Tables in LaTeX: a line in a cell may break after a "|" (chapter 10's
--    tables show tokens as 12|34|␣+, one long word to LaTeX otherwise).
--  * EPUB: the whole book is one document (book/mkbook.py), so figures,
--    tables and headings are numbered per chapter here, from the chapter
--    numbers mkbook.py records, rather than by pandoc.

local chapter = nil
local is_latex = FORMAT:match("latex") ~= nil
local is_epub = FORMAT:match("epub") ~= nil
-- figures[scope .. " " .. id], tables[...]: { num = "3.2", uid = the id in the output }
local figures, tables = {}, {}
local whole_book = false     -- several chapters in one document (book/mkbook.py)

local function number_of(kind, n)
  if chapter then return string.format("%s.%d", chapter, n) end
  return tostring(n)
end

local function stringify(x) return pandoc.utils.stringify(x) end

-- The chapter a raw block of book/mkbook.py starts: \setcounter{chapter}{N-1}
-- before chapter N, \appendix before the first appendix.
local appendix_letter = nil
local function chapter_marker(b)
  if b.t ~= "RawBlock" or b.format ~= "latex" then return nil end
  local n = b.text:match("\\setcounter{chapter}{(%d+)}")
  if n then return tostring(tonumber(n) + 1) end
  if b.text:match("\\appendix") then return "appendix" end
  return nil
end

-- The chapter (its number, or an appendix's letter) each top-level block
-- belongs to: the metadata's `chapter` on a page of one chapter; in the
-- whole book, from the markers book/mkbook.py puts before each chapter.
local function block_scopes(doc)
  local scopes, cur, letter, in_appendix = {}, chapter or "", 0, false
  for i, b in ipairs(doc.blocks) do
    local m = chapter_marker(b)
    if m == "appendix" then
      in_appendix = true
      whole_book = true
    elseif m then
      cur = m
      whole_book = true
    end
    if in_appendix and b.t == "Header" and b.level == 1 then
      letter = letter + 1
      cur = string.char(64 + letter)
    end
    scopes[i] = cur
  end
  return scopes
end

-- The id a figure or table has in the output: as written on a chapter's
-- own page, prefixed with its chapter where chapters share the document.
local function scoped_id(scope, id)
  if not whole_book or scope == "" then return id end
  if scope:match("^%d+$") then return string.format("ch%02d-%s", tonumber(scope), id) end
  return "appendix-" .. scope .. "-" .. id
end

local function where(scope)
  if scope == "" then return "" end
  return (scope:match("^%d+$") and "chapter " or "appendix ") .. scope .. ": "
end

local function register(list, kind, scope, id, num)
  local key = scope .. " " .. id
  if list[key] then
    io.stderr:write("book.lua: " .. where(scope) .. kind .. " id " .. id .. " is given twice\n")
    return
  end
  list[key] = { num = num, uid = scoped_id(scope, id) }
end

-- Pass 1: number figures and tables, in document order (per chapter when
-- the document is the whole book).
local function collect(doc, scopes)
  local nfig, ntab = 0, 0
  local scope = nil
  local walker = {
    Image = function(img)
      if img.identifier:match("^fig:") then
        nfig = nfig + 1
        register(figures, "figure", scope, img.identifier, number_of("fig", nfig))
      end
    end,
    Table = function(t)
      local cap = stringify(t.caption.long or {})
      local id = cap:match("{#(tbl:[%w%-_]+)}%s*$")
      if id then
        ntab = ntab + 1
        register(tables, "table", scope, id, number_of("tbl", ntab))
      end
    end,
  }
  for i, b in ipairs(doc.blocks) do
    if scopes[i] ~= scope then
      scope = scopes[i]
      if whole_book then chapter = scope ~= "" and scope or nil end
      nfig, ntab = 0, 0
    end
    pandoc.Blocks({ b }):walk(walker)
  end
end

-- Walk each top-level block with a filter that may ask for the block's
-- chapter (current_scope).
local current_scope = ""
local function walk_scoped(doc, scopes, filter)
  local out = {}
  for i, b in ipairs(doc.blocks) do
    current_scope = scopes[i]
    for _, x in ipairs(pandoc.Blocks({ b }):walk(filter)) do table.insert(out, x) end
  end
  doc.blocks = out
  return doc
end

local function caption_prefix(label, num)
  return { pandoc.Strong({ pandoc.Str(label), pandoc.Space(), pandoc.Str(num .. ":") }), pandoc.Space() }
end

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

-- Text for an image's alt attribute: the caption, with its math as plain
-- text (d/dx sin x rather than \frac{d}{dx}\sin x).
local SYMBOL = {
  alpha = "α", beta = "β", gamma = "γ", delta = "δ", epsilon = "ε", varepsilon = "ε", eta = "η",
  theta = "θ", lambda = "λ", mu = "μ", pi = "π", rho = "ρ", sigma = "σ", tau = "τ", phi = "φ",
  chi = "χ", psi = "ψ", omega = "ω", Delta = "Δ", Sigma = "Σ", Omega = "Ω", nabla = "∇",
  times = "×", cdot = "·", le = "≤", leq = "≤", ge = "≥", geq = "≥", ne = "≠", neq = "≠",
  approx = "≈", infty = "∞", sum = "Σ", prod = "Π", to = "→", mid = "|", ldots = "…", dots = "…",
  partial = "∂", sqrt = "√", pm = "±", mathrm = "", text = "", mathbf = "", operatorname = "",
}

local function plain_math(tex)
  local t = tex
  for _ = 1, 3 do
    t = t:gsub("\\[dt]?frac%s*(%b{})%s*(%b{})", function(a, b) return a:sub(2, -2) .. "/" .. b:sub(2, -2) end)
  end
  t = t:gsub("\\left", ""):gsub("\\right", ""):gsub("\\[,;!: ]", " ")
  t = t:gsub("\\(%a+)", function(w) return SYMBOL[w] or w end):gsub("[{}]", ""):gsub("%s+", " ")
  return t
end

local function alt_text(inlines)
  local plain = pandoc.Inlines(inlines):walk({
    Math = function(m) return pandoc.Str(plain_math(m.text)) end,
  })
  return stringify(plain)
end

-- EPUB: SVG files may not declare an external DTD (epubcheck OPF-073);
-- Graphviz writes one.  Such a file goes into the EPUB as a copy without it.
local function epub_svg(src)
  if not src:match("%.svg$") then return src end
  local f = io.open(src, "r")
  if not f then return src end
  local text = f:read("a")
  f:close()
  if not text:find("<!DOCTYPE", 1, true) then return src end
  os.execute("mkdir -p build/book/epub-media")
  local copy = "build/book/epub-media/" .. src:gsub("^.*/", "")
  local out = assert(io.open(copy, "w"))
  out:write((text:gsub("<!DOCTYPE[^>]*>%s*", "", 1)))
  out:close()
  return copy
end

local filter_figures = {
  Para = function(p)
    if #p.content ~= 1 or p.content[1].t ~= "Image" then return nil end
    local img = p.content[1]
    local fig = figures[current_scope .. " " .. img.identifier]
    if not fig then return nil end
    local num = fig.num
    img.identifier = fig.uid
    if is_latex then return p end
    local cap = caption_prefix("Figure", num)
    if not is_epub then
      -- the number links to the figure itself: a link a reader can copy
      cap[1] = pandoc.Link({ cap[1] }, "#" .. img.identifier, "", pandoc.Attr("", { "fig-anchor" }))
    end
    for _, x in ipairs(img.caption) do table.insert(cap, x) end
    if is_epub then
      img.attributes.alt = alt_text(cap)
      img.src = epub_svg(img.src)
      img.caption = cap
      return pandoc.Para({ img })
    end
    -- HTML: <figure id=...> with the light image, the dark one if drawn,
    -- and the caption (rendered by pandoc, so its math goes to KaTeX).
    local alt = { pandoc.Str(alt_text(img.caption)) }
    local dark_src = img.src:gsub("%.svg$", "-dark.svg")
    local has_dark = dark_src ~= img.src and file_exists(dark_src)
    local imgs = { pandoc.Image(alt, img.src, "", pandoc.Attr("", { has_dark and "only-light" or "figure-card" })) }
    if has_dark then
      table.insert(imgs, pandoc.Image(alt, dark_src, "", pandoc.Attr("", { "only-dark" })))
    end
    return {
      pandoc.RawBlock("html", '<figure id="' .. img.identifier .. '">'),
      pandoc.Plain(imgs),
      pandoc.RawBlock("html", "<figcaption>"),
      pandoc.Plain(cap),
      pandoc.RawBlock("html", "</figcaption>\n</figure>"),
    }
  end,
  Table = function(t)
    local blocks = t.caption.long
    if not blocks or #blocks == 0 then return nil end
    local last = blocks[#blocks]
    local text = stringify(last)
    local id = text:match("{#(tbl:[%w%-_]+)}%s*$")
    if not id then return nil end
    -- drop the trailing {#tbl:...} from the caption's inlines
    local inl = last.content
    while #inl > 0 do
      local s = stringify(inl[#inl])
      table.remove(inl)
      if s:match("^{#tbl:") then break end
    end
    while #inl > 0 and inl[#inl].t == "Space" do table.remove(inl) end
    local tab = tables[current_scope .. " " .. id]
    if is_latex then
      table.insert(inl, pandoc.RawInline("latex", "\\label{" .. tab.uid .. "}"))
    else
      local cap = caption_prefix("Table", tab.num)
      for _, x in ipairs(inl) do table.insert(cap, x) end
      last.content = cap
      t.attr.identifier = tab.uid
    end
    return t
  end,
  Cite = function(c)
    local id = c.citations[1].id
    local kind = id:match("^(fig):") or id:match("^(tbl):")
    if not kind then return nil end
    local target = (kind == "fig" and figures or tables)[current_scope .. " " .. id]
    local label = kind == "fig" and "Figure" or "Table"
    if not target then
      io.stderr:write("book.lua: " .. where(current_scope) .. "reference to unknown " .. label:lower() .. " @" .. id ..
        " (a reference names a " .. label:lower() .. " of its own chapter)\n")
      os.exit(1)
    end
    if is_latex then
      return pandoc.RawInline("latex", label .. "~\\ref{" .. target.uid .. "}")
    end
    return pandoc.Link({ pandoc.Str(label), pandoc.Str("\u{00A0}" .. target.num) }, "#" .. target.uid)
  end,
}

-- Chapter links -------------------------------------------------------------

local chapter_pages = {}

local function collect_chapters(meta)
  if not meta.chapters then return end
  for _, e in ipairs(meta.chapters) do
    chapter_pages[stringify(e.num)] = stringify(e.href)
  end
end

local filter_chapter_links = {
  Link = function(l)
    local key = l.target:match("^ch:(%w+)$")
    if not key then return nil end
    local num = key:match("^%d+$") and tostring(tonumber(key)) or key
    local href = chapter_pages[num]
    if href and not is_latex and not is_epub then
      l.target = href
      return l
    end
    return pandoc.Span(l.content, pandoc.Attr("", { "chapter-ref" }))
  end,
}

-- Solutions -----------------------------------------------------------------

local function is_solution(b) return b.t == "Div" and b.classes:includes("solution") end

local function fold_html(div, label)
  local blocks = { pandoc.RawBlock("html", '<details class="solution"><summary>Solution' ..
      (label and (" to exercise " .. label) or "") .. "</summary>") }
  for _, x in ipairs(div.content) do table.insert(blocks, x) end
  table.insert(blocks, pandoc.RawBlock("html", "</details>"))
  return blocks
end

local function process_solutions(blocks)
  local out, pending, chap_num, chap_count = {}, {}, chapter, 0

  local function flush()
    if #pending == 0 then return end
    table.insert(out, pandoc.Header(2, { pandoc.Str("Solutions") }, pandoc.Attr("", { "unnumbered" })))
    for _, s in ipairs(pending) do
      table.insert(out, pandoc.Para({ pandoc.Strong({ pandoc.Str("Exercise " .. s.label .. ".") }) }))
      for _, x in ipairs(s.content) do table.insert(out, x) end
    end
    pending = {}
  end

  for _, b in ipairs(blocks) do
    if b.t == "Header" and b.classes:includes("nw-index-head") then
      flush()
    end
    if b.t == "Header" and b.level == 1 then
      flush()
      chap_count = chap_count + 1
    end
    if b.t == "OrderedList" then
      local start = b.listAttributes.start or 1
      for i, item in ipairs(b.content) do
        local label = tostring(start + i - 1)
        local kept = {}
        for _, x in ipairs(item) do
          if is_solution(x) then
            if is_latex or is_epub then
              table.insert(pending, { label = label, content = x.content })
            else
              for _, y in ipairs(fold_html(x, label)) do table.insert(kept, y) end
            end
          else
            table.insert(kept, x)
          end
        end
        b.content[i] = kept
      end
    elseif is_solution(b) then
      -- a solution after its exercise (it holds code chunks, which cannot
      -- sit inside a list item); the attribute ex names the exercise
      local label = b.attributes.ex
      if is_latex or is_epub then
        table.insert(pending, { label = label or "?", content = b.content })
      else
        for _, y in ipairs(fold_html(b, label)) do table.insert(out, y) end
      end
      goto continue
    end
    table.insert(out, b)
    ::continue::
  end
  flush()
  return out
end

-- EPUB headings: "1.3 The corpus as symbols", numbered by the chapter's
-- own number (chapter 7 stays 7 while chapters 2-6 are being written).
local function number_headings(blocks)
  local chap, counts, letter, in_appendix = nil, {}, 0, false
  for _, b in ipairs(blocks) do
    local m = chapter_marker(b)
    if m == "appendix" then in_appendix = true
    elseif m then chap = m end
    if b.t == "Header" and not b.classes:includes("unnumbered") then
      if b.level == 1 then
        if in_appendix then
          letter = letter + 1
          chap = string.char(64 + letter)
        end
        counts = {}
        if chap then
          table.insert(b.content, 1, pandoc.Space())
          table.insert(b.content, 1, pandoc.Span({ pandoc.Str((in_appendix and "Appendix " or "") .. chap) },
            pandoc.Attr("", { "header-section-number" })))
        end
      elseif chap and b.level <= 3 then
        counts[b.level] = (counts[b.level] or 0) + 1
        for l = b.level + 1, 6 do counts[l] = nil end
        local parts = { chap }
        for l = 2, b.level do table.insert(parts, tostring(counts[l] or 0)) end
        table.insert(b.content, 1, pandoc.Space())
        table.insert(b.content, 1, pandoc.Span({ pandoc.Str(table.concat(parts, ".")) },
          pandoc.Attr("", { "header-section-number" })))
      end
    end
  end
end

-- Tables in LaTeX: \allowbreak after every "|" of a cell's text.
local function split_bars(s)
  if not s.text:find("|", 1, true) then return nil end
  local out, i = {}, 1
  while true do
    local j = s.text:find("|", i, true)
    if not j then break end
    table.insert(out, pandoc.Str(s.text:sub(i, j)))
    table.insert(out, pandoc.RawInline("latex", "\\allowbreak{}"))
    i = j + 1
  end
  if i <= #s.text then table.insert(out, pandoc.Str(s.text:sub(i))) end
  return out
end

function Pandoc(doc)
  if doc.meta.chapter then chapter = stringify(doc.meta.chapter) end
  local scopes = block_scopes(doc)
  collect(doc, scopes)
  collect_chapters(doc.meta)
  doc = walk_scoped(doc, scopes, filter_figures)
  doc = doc:walk(filter_chapter_links)
  doc.blocks = process_solutions(doc.blocks)
  if is_latex then
    doc = doc:walk({ Table = function(t) return pandoc.walk_block(t, { Str = split_bars }) end })
  end
  if is_epub then
    number_headings(doc.blocks)
    -- math in a heading would put MathML into the EPUB's table of contents,
    -- which EPUB 3 does not allow there (epubcheck OPF-014): set it as text
    doc = doc:walk({ Header = function(h)
      return h:walk({ Math = function(m)
        return pandoc.Emph({ pandoc.Str((m.text:gsub("\\", ""))) })
      end })
    end })
  end
  return doc
end

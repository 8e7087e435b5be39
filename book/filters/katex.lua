-- katex.lua -- the HTML book's math, typeset when the page is built.
--
-- Runs after book.lua, for HTML only.  Gathers every formula of the page
-- (in document order), has KaTeX typeset them all in one run of node
-- (book/katex_render.js), and puts each back as the HTML KaTeX made, in
-- the span pandoc would have written for KaTeX's script to fill:
-- <span class="math inline|display">...</span>.  A page so built shows its
-- math at once, with JavaScript off, and loads no script for it; it needs
-- KaTeX's stylesheet and fonts only, which the template links when the page
-- has math (the metadata field `katex`, set here).
--
-- NODE (default node) and KATEX_RENDER (default book/katex_render.js) may
-- be set in the environment.

local node = os.getenv("NODE") or "node"
local script = os.getenv("KATEX_RENDER") or "book/katex_render.js"

local function split_nul(s)
  local out, start = {}, 1
  while true do
    local i = s:find("\0", start, true)
    if not i then
      table.insert(out, s:sub(start))
      return out
    end
    table.insert(out, s:sub(start, i - 1))
    start = i + 1
  end
end

function Pandoc(doc)
  local items = {}
  doc:walk({
    Math = function(m)
      table.insert(items, (m.mathtype == "DisplayMath" and "D" or "I") .. m.text)
    end,
  })
  if #items == 0 then return nil end
  local page = PANDOC_STATE.input_files[1] or "?"
  page = page:gsub("^.*/", ""):gsub("%.md$", "")
  local ok, out = pcall(pandoc.pipe, node, { script, page }, table.concat(items, "\0"))
  if not ok then
    io.stderr:write("katex.lua: " .. page .. ": " .. node .. " " .. script .. " failed: " .. tostring(out) .. "\n")
    os.exit(1)
  end
  local html = split_nul(out)
  if #html ~= #items then
    io.stderr:write(string.format("katex.lua: %s: %d formulas sent to KaTeX, %d came back\n", page, #items, #html))
    os.exit(1)
  end
  local i = 0
  doc = doc:walk({
    Math = function(m)
      i = i + 1
      local kind = m.mathtype == "DisplayMath" and "display" or "inline"
      return pandoc.RawInline("html", '<span class="math ' .. kind .. '">' .. html[i] .. "</span>")
    end,
  })
  doc.meta.katex = true
  return doc
end

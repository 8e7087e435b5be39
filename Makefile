# Building Language Models from Scratch, in C -- the only entry point.
#
#   make               install what is missing, build every program, draw every
#                      figure from the committed data, weave the HTML book, the PDF and the EPUB
#   make test          run every test; the last line is "N passed, N failed"
#   make ch01          build one chapter's program: build/bin/ch01-markov
#   make ch01-figures  rerun chapter 1's experiments (rewrites figures/data) and redraw
#   make figures       the same for every chapter
#   make html | pdf | epub   one format of the book
#   make bench         CPU matmul against OpenBLAS (writes figures/data/bench-matmul-cpu.tsv)
#   make test-gpu      (on a GPU machine) every kernel against its CPU reference, and
#                      under compute-sanitizer; make bench-gpu times them
#   make NOTANGLE=1 T  build target T from the tangled sources already in build/NN-*/
#                      (a GPU machine has nvcc but no noweb: bench/gpu-chapters.sh)
#   make fuzz          run each fuzz target of tests/fuzz for FUZZ_SECONDS (180) and report
#   make clean
#
# Everything generated goes to build/, book/html/, book/book.pdf and figures/*.{svg,pdf}.

SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DEFAULT_GOAL := all
MAKEFLAGS   += --no-builtin-rules
.DELETE_ON_ERROR:

CC       ?= gcc
ifeq ($(origin CC),default)
CC       := gcc
endif
NOWEBLIB ?= /usr/lib/noweb
PYTHON   ?= python3
PANDOC   ?= pandoc
GNUPLOT  ?= gnuplot

# ---- What this machine has -------------------------------------------------
OPENMP := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
NVCC   := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
BLAS   := $(shell echo 'int main(void){return 0;}' | $(CC) -x c - -lopenblas -o /dev/null 2>/dev/null && echo -lopenblas)

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-function
CFLAGS   ?= -O2 -march=native -g
ALLCFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(OPENMP) -Icommon \
            -DBOOK_ROOT='"$(CURDIR)"'
LDLIBS   := -lm $(OPENMP) -lpthread
ASANFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

# ---- Chapters ----------------------------------------------------------------
# chapters/NN-name/name.nw  ->  build/NN-name/  ->  build/bin/chNN-name
CHAPTER_DIRS := $(sort $(wildcard chapters/[0-9][0-9]-*))
CHAPTERS     := $(notdir $(CHAPTER_DIRS))
num  = $(firstword $(subst -, ,$(1)))
name = $(patsubst $(call num,$(1))-%,%,$(1))
bin  = build/bin/ch$(call num,$(1))-$(call name,$(1))
src  = chapters/$(1)/$(call name,$(1)).nw
figs = $(shell sed -n 's/^<<\(ch[0-9][0-9]-[A-Za-z0-9_-]*\)\.gp>>=.*/\1/p' $(call src,$(1)) | sort -u)
cus  = $(shell sed -n 's/^<<\([A-Za-z0-9_-]*\)\.cu>>=.*/\1/p' $(call src,$(1)) | sort -u)
culib = $(if $(call cus,$(1)),build/$(1)/libcuda.a)
# Other C roots NAME.c of a chapter (not its program NAME.c, not chNN-solutions.c):
# each is its own translation unit, compiled with every chapter's tangled
# directory on the include path (so it may include another chapter's program,
# whose functions are all static), into build/NN-x/libtu.a, linked with the
# chapter's program and its tests.
tus  = $(filter-out $(call name,$(1)) ch$(call num,$(1))-solutions,$(shell sed -n 's/^<<\([A-Za-z0-9_-]*\)\.c>>=.*/\1/p' $(call src,$(1)) | sort -u))
tulib = $(if $(call tus,$(1)),build/$(1)/libtu.a)
# The CUDA of the other chapters whose program a chapter includes (#include "NAME.c"
# in one of its C roots), which the included program's functions call.
incs  = $(shell sed -n 's/^\#include "\([A-Za-z0-9_-]*\)\.c".*/\1/p' $(call src,$(1)) | sort -u)
xculib = $(foreach c,$(filter-out $(1),$(CHAPTERS)),$(if $(filter $(call name,$(c)),$(call incs,$(1))),$(call culib,$(c))))

WEAVE_DEPS := book/nw2md.py book/highlight.py book/dataref.py tools/nwreader.py
PROGRAMS := $(foreach c,$(CHAPTERS),$(call bin,$(c)))
STAMPS   := $(foreach c,$(CHAPTERS),build/$(c)/.tangled)
FIGURES  := $(foreach c,$(CHAPTERS),$(foreach f,$(call figs,$(c)),figures/$(f).svg figures/$(f).pdf))
CHAPTER_INCLUDES := $(foreach c,$(CHAPTERS),-Ibuild/$(c))
CHAPTER_CUDA     := $(foreach c,$(CHAPTERS),$(call culib,$(c)))
CHAPTER_CUDA_ASAN := $(patsubst build/%,build/asan/%,$(CHAPTER_CUDA))
CHAPTER_TUS      := $(foreach c,$(CHAPTERS),$(call tulib,$(c)))
CHAPTER_TUS_ASAN := $(patsubst build/%,build/asan/%,$(CHAPTER_TUS))
# Graphs: an experiment writes figures/data/chNN-*.dot, Graphviz's dot draws it.
DOT         ?= dot
DOT_FIGURES := $(patsubst figures/data/%.dot,figures/%,$(wildcard figures/data/ch[0-9][0-9]-*.dot))
FIGURES     += $(DOT_FIGURES:=.svg) $(DOT_FIGURES:=.pdf)

# ---- The common runtime ------------------------------------------------------
COMMON_SRC := $(sort $(wildcard common/*.c))
COMMON_HDR := $(wildcard common/*.h)
COMMON_OBJ := $(patsubst common/%.c,build/common/%.o,$(COMMON_SRC))
LIBCOMMON  := build/libcommon.a
ASAN_OBJ   := $(patsubst common/%.c,build/asan/common/%.o,$(COMMON_SRC))
ASAN_LIB   := build/asan/libcommon.a

# The GPU half: gpu.h, implemented by common/gpu/*.cu, one file per family
# of kernels (a new file there is picked up by itself), compiled with nvcc
# for Hopper (sm_90a: sm_90 with its architecture-specific instructions,
# the wgmma of chapter 12's flash attention version 5) plus compute_90 PTX
# that newer GPUs compile at load time (without those; version 5 refuses
# any GPU but compute capability 9.0).  Without
# nvcc, and in the AddressSanitizer and fuzzing builds always, the build
# generates build/common/gpu_none.c from gpu.h (common/gpu/stubs.py): every
# function says, in one line, that the program was built without CUDA.
# Programs link cuBLAS and the CUDA runtime only if they call into gpu.h
# (--as-needed).
GPU_CU   := $(sort $(wildcard common/gpu/*.cu))
GPU_HDR  := $(wildcard common/gpu/*.cuh) $(COMMON_HDR)
STUBS    := common/gpu/stubs.py
ASAN_OBJ += build/asan/common/gpu_none.o
ifneq ($(NVCC),)
CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVCCFLAGS  ?= -O3 -gencode arch=compute_90a,code=sm_90a -gencode arch=compute_90,code=compute_90
ALLNVCCFLAGS = -std=c++17 $(NVCCFLAGS) -Xcompiler -Wall,-Wextra,-Werror -Icommon
COMMON_OBJ += $(patsubst common/gpu/%.cu,build/common/gpu/%.o,$(GPU_CU))
LDLIBS     += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -Wl,--as-needed -lcublasLt -lcublas -lcudart -lstdc++ -Wl,--no-as-needed
else
COMMON_OBJ += build/common/gpu_none.o
endif

.PHONY: all setup programs figures draw html pdf book test test-c bench test-gpu bench-gpu clean info
.PHONY: $(foreach c,$(CHAPTERS),ch$(call num,$(c)) ch$(call num,$(c))-figures ch$(call num,$(c))-draw)

# make and make test build with as many jobs as the machine has cores (JOBS=N
# sets it): CI's two cores halve the time the emulator's fifty copies of
# flash.cu take to compile.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

all: setup
	@$(MAKE) --no-print-directory -j$(JOBS) info programs draw book

setup:
	@tools/setup

info:
	@echo "build: $$($(CC) --version | head -1); OpenMP: $(if $(OPENMP),yes,no (single-threaded matmul));" \
	  "nvcc: $(if $(NVCC),$(NVCC),none (CPU only));" \
	  "OpenBLAS: $(if $(BLAS),yes,no (make bench unavailable))"

programs: $(PROGRAMS)

build/common/%.o: common/%.c $(COMMON_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -c $< -o $@

build/common/gpu/%.o: common/gpu/%.cu $(GPU_HDR)
	@mkdir -p $(@D)
	$(NVCC) $(ALLNVCCFLAGS) -c $< -o $@

build/common/gpu_none.c: common/gpu.h $(STUBS)
	@mkdir -p $(@D)
	$(PYTHON) $(STUBS) common/gpu.h > $@.tmp && mv $@.tmp $@

build/common/gpu_none.o: build/common/gpu_none.c $(COMMON_HDR)
	$(CC) $(ALLCFLAGS) -c $< -o $@

build/asan/common/gpu_none.o: build/common/gpu_none.c $(COMMON_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

# A chapter with no CUDA of its own whose program does not accept --device
# cuda (no ".gpu = true" in its CliSpec) links the CPU half of the runtime
# with gpu.h's stand-ins instead, so that `make ch01` needs no nvcc.
LIBCOMMON_CPU := build/libcommon-cpu.a
$(LIBCOMMON_CPU): $(patsubst common/%.c,build/common/%.o,$(COMMON_SRC)) build/common/gpu_none.o
	@rm -f $@
	ar rcs $@ $^
usesgpu = $(or $(call cus,$(1)),$(shell grep -l '\.gpu = true' $(call src,$(1))))
libcommon = $(if $(call usesgpu,$(1)),$(LIBCOMMON),$(LIBCOMMON_CPU))

build/asan/common/%.o: common/%.c $(COMMON_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -c $< -o $@

$(ASAN_LIB): $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

# A chapter's CUDA: each root chunk NAME.cu of its .nw is tangled to
# build/NN-x/NAME.cu and compiled with nvcc (build/NN-x/libcuda.a, linked
# with the chapter's program and its tests); without nvcc, and in the
# AddressSanitizer build, the stand-in generated from the extern "C"
# functions it defines (NAME_none.c) takes its place.
define chapter_rules
ifdef NOTANGLE
build/$(1)/.tangled:
	@test -e $$@ || { echo "make NOTANGLE=1: build/$(1) holds no tangled sources (tangle them where noweb is)"; exit 1; }
else
build/$(1)/.tangled: $(call src,$(1)) tools/tangle tools/nwtangle.py tools/nwreader.py
	@mkdir -p build/$(1)
	tools/tangle $$< build/$(1)
	@touch $$@
endif

ifneq ($(call cus,$(1)),)
build/$(1)/%.cu.o: build/$(1)/.tangled $(GPU_HDR)
	$(NVCC) $(ALLNVCCFLAGS) -Ibuild/$(1) -c build/$(1)/$$*.cu -o $$@

build/$(1)/%_none.c: build/$(1)/.tangled $(STUBS)
	$(PYTHON) $(STUBS) build/$(1)/$$*.cu > $$@.tmp && mv $$@.tmp $$@

build/$(1)/%_none.o: build/$(1)/%_none.c $(COMMON_HDR)
	$(CC) $(ALLCFLAGS) -Ibuild/$(1) -c $$< -o $$@

build/asan/$(1)/%_none.o: build/$(1)/%_none.c $(COMMON_HDR)
	@mkdir -p $$(@D)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -Ibuild/$(1) -c $$< -o $$@

build/$(1)/libcuda.a: $(foreach u,$(call cus,$(1)),build/$(1)/$(u)$(if $(NVCC),.cu.o,_none.o))
	@rm -f $$@
	ar rcs $$@ $$^

build/asan/$(1)/libcuda.a: $(foreach u,$(call cus,$(1)),build/asan/$(1)/$(u)_none.o)
	@rm -f $$@
	ar rcs $$@ $$^
endif

ifneq ($(call tus,$(1)),)
build/$(1)/%.tu.o: $(STAMPS) $(COMMON_HDR)
	$(CC) $(ALLCFLAGS) $(CHAPTER_INCLUDES) -c build/$(1)/$$*.c -o $$@

build/asan/$(1)/%.tu.o: $(STAMPS) $(COMMON_HDR)
	@mkdir -p $$(@D)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) $(CHAPTER_INCLUDES) -c build/$(1)/$$*.c -o $$@

build/$(1)/libtu.a: $(foreach u,$(call tus,$(1)),build/$(1)/$(u).tu.o)
	@rm -f $$@
	ar rcs $$@ $$^

build/asan/$(1)/libtu.a: $(foreach u,$(call tus,$(1)),build/asan/$(1)/$(u).tu.o)
	@rm -f $$@
	ar rcs $$@ $$^
endif

$(call bin,$(1)): build/$(1)/.tangled $(call libcommon,$(1)) $(call culib,$(1)) $(call tulib,$(1)) $(call xculib,$(1))
	@mkdir -p $$(@D)
	$(CC) $(ALLCFLAGS) -Ibuild/$(1) -o $$@ build/$(1)/$(call name,$(1)).c $(call tulib,$(1)) $(call culib,$(1)) $(call xculib,$(1)) $(call libcommon,$(1)) $(LDLIBS)

ch$(call num,$(1)): $(call bin,$(1))

build/book/$(1).md: $(call src,$(1)) $$(WEAVE_DEPS) $(wildcard figures/data/*.tsv)
	@mkdir -p $$(@D)
	$$(NOWEBLIB)/markup $$< | $$(NOWEBLIB)/finduses | $$(NOWEBLIB)/noidx \
	  | $$(PYTHON) book/nw2md.py --chapter $(1) > $$@.tmp || { rm -f $$@.tmp; exit 1; }
	@mv $$@.tmp $$@

ch$(call num,$(1))-figures: $(call bin,$(1))
	$(call bin,$(1)) all --out figures/data
	@$(MAKE) --no-print-directory ch$(call num,$(1))-draw

ch$(call num,$(1))-draw: $(foreach f,$(call figs,$(1)),figures/$(f).svg figures/$(f).pdf) \
  $(filter figures/ch$(call num,$(1))-%,$(DOT_FIGURES:=.svg) $(DOT_FIGURES:=.pdf))

figures/ch$(call num,$(1))-%.svg: build/$(1)/.tangled figures/style.gp $(wildcard figures/data/ch$(call num,$(1))-*.tsv)
	$(GNUPLOT) -e "fmt='svg'; outfile='$$@'; datadir='figures/data'" figures/style.gp build/$(1)/ch$(call num,$(1))-$$*.gp

# The dark-mode SVG (the HTML book in dark mode): gnuplot's default black,
# used by text and arrows given no colour, becomes the light ink.
figures/ch$(call num,$(1))-%-dark.svg: build/$(1)/.tangled figures/style.gp $(wildcard figures/data/ch$(call num,$(1))-*.tsv)
	$(GNUPLOT) -e "fmt='svgdark'; outfile='$$@'; datadir='figures/data'" figures/style.gp build/$(1)/ch$(call num,$(1))-$$*.gp
	sed -i 's/="black"/="#dcdcd8"/g' $$@

ch$(call num,$(1))-draw: $(foreach f,$(call figs,$(1)),figures/$(f)-dark.svg)

figures/ch$(call num,$(1))-%.pdf: build/$(1)/.tangled figures/style.gp $(wildcard figures/data/ch$(call num,$(1))-*.tsv)
	$(GNUPLOT) -e "fmt='pdf'; outfile='$$@'; datadir='figures/data'" figures/style.gp build/$(1)/ch$(call num,$(1))-$$*.gp
endef
$(foreach c,$(CHAPTERS),$(eval $(call chapter_rules,$(c))))

# Every gnuplot figure is drawn for the dark page too (figures/x-dark.svg).
FIGURES += $(foreach c,$(CHAPTERS),$(foreach f,$(call figs,$(c)),figures/$(f)-dark.svg))

draw: $(FIGURES)

$(DOT_FIGURES:=.svg): figures/%.svg: figures/data/%.dot
	$(DOT) -Tsvg $< -o $@

$(DOT_FIGURES:=.pdf): figures/%.pdf: figures/data/%.dot
	$(DOT) -Tpdf $< -o $@

figures: $(foreach c,$(CHAPTERS),ch$(call num,$(c))-figures)

# ---- The book ----------------------------------------------------------------
# .nw -> noweb's markup stream -> our backend (book/nw2md.py) -> pandoc Markdown
#     -> one HTML page per chapter, and one LaTeX document for the whole PDF.
# Identifiers are the ones each chapter declares with "@ %def" (functions,
# types, constants): noweb's autodefs.c is not in the pipeline, because in
# chunks that are pieces of function bodies it takes every local variable
# (m, t, k, alpha, ...) for a definition and links every use of it.
APPENDICES := $(patsubst book/front/%.md,build/book/%.md,$(sort $(wildcard book/front/appendix-*.md)))
BOOK_MD    := $(foreach c,$(CHAPTERS),build/book/$(c).md) $(APPENDICES)
PAGES      := $(basename $(notdir $(BOOK_MD)))
HTML_PAGES := $(foreach p,$(PAGES),book/html/$(p).html) book/html/index.html
PANDOC_MD  := markdown+tex_math_dollars+raw_html+raw_tex+raw_attribute+fenced_divs+bracketed_spans
PANDOC_COMMON := --from $(PANDOC_MD) --lua-filter book/filters/book.lua --resource-path=.
MINISEARCH := node_modules/minisearch/dist/umd/index.js
# Math is typeset when a page is built (book/filters/katex.lua runs KaTeX
# under node once per page), so pages show it at once, without JavaScript;
# they load KaTeX's stylesheet and fonts, from Debian's libjs-katex.
KATEX_DIR   ?= /usr/share/javascript/katex
KATEX_DEPS  := book/filters/katex.lua book/katex_render.js
export KATEX_JS ?= $(KATEX_DIR)/katex.min.js
PANDOC_HTML  = --to html5 --standalone --template book/templates/page.html --lua-filter book/filters/katex.lua

build/book/appendix-%.md: book/front/appendix-%.md $(COMMON_HDR) figures/style.gp book/includes.py book/dataref.py
	@mkdir -p $(@D)
	$(PYTHON) book/includes.py $< > $@.tmp && mv $@.tmp $@

build/book/meta.stamp: $(BOOK_MD) book/chapters.py book/front/index.md
	$(PYTHON) book/chapters.py build/book book/front/index.md $(BOOK_MD)
	@touch $@

book/html/%.html: build/book/%.md build/book/meta.stamp book/templates/page.html book/filters/book.lua $(KATEX_DEPS) | book/html/.assets
	$(PANDOC) $(PANDOC_COMMON) $(PANDOC_HTML) --toc --toc-depth=2 --section-divs --default-image-extension=svg \
	  --metadata-file build/book/meta/$*.json \
	  $(if $(filter appendix-%,$*),,--number-sections --number-offset=$$(( 10#$(call num,$*) - 1 ))) \
	  -o $@ $<

book/html/index.html: build/book/meta.stamp book/templates/page.html book/filters/book.lua $(KATEX_DEPS) | book/html/.assets
	$(PANDOC) $(PANDOC_COMMON) $(PANDOC_HTML) --metadata-file build/book/meta/index.json -o $@ build/book/index.md

book/html/.assets: book/style.css book/search.js $(MINISEARCH) $(FIGURES)
	@rm -rf book/html/figures book/html/katex
	@mkdir -p book/html/figures book/html/katex
	cp -rL $(KATEX_DIR)/katex.min.css $(KATEX_DIR)/fonts book/html/katex/
	cp book/style.css book/search.js book/html/
	cp $(MINISEARCH) book/html/minisearch.js
	$(if $(filter %.svg,$(FIGURES)),cp $(filter %.svg,$(FIGURES)) book/html/figures/)
	@touch $@

# Search: the index of every page (sections, chunks, identifiers, figures),
# built here into a script the pages load (book/search.js), so that search
# works from disk without a server.
book/html/search-index.js: $(filter-out book/html/index.html,$(HTML_PAGES)) book/search_docs.py book/search_index.js $(MINISEARCH)
	$(PYTHON) book/search_docs.py build/book/meta $(filter %.html,$^) > build/book/search-docs.json
	node book/search_index.js build/book/search-docs.json $@

html: $(HTML_PAGES) book/html/search-index.js

build/book/book.tex: $(BOOK_MD) book/mkbook.py book/templates/preamble.tex book/filters/book.lua
	$(PYTHON) book/mkbook.py $(BOOK_MD) > build/book/book.md
	$(PANDOC) $(PANDOC_COMMON) --to latex --standalone --top-level-division=chapter \
	  --default-image-extension=pdf --include-in-header=book/templates/preamble.tex \
	  --toc --toc-depth=1 --number-sections \
	  -V documentclass=book -V classoption=oneside -V fontsize=10pt -V geometry:margin=1in \
	  -V colorlinks=true -V linkcolor=blue!50!black -V urlcolor=blue!50!black \
	  -V mainfont="DejaVu Serif" -V sansfont="DejaVu Sans" -V monofont="DejaVu Sans Mono" \
	  -V monofontoptions="Scale=0.85" -V mainfontoptions="Scale=0.95" \
	  -M title="Building Language Models from Scratch, in C" \
	  -M date="$$(git log -1 --format=%cs 2>/dev/null || date +%F)" \
	  -o $@ build/book/book.md

book/book.pdf: build/book/book.tex $(FIGURES)
	cd build/book && for pass in 1 2 3; do \
	  TEXINPUTS=$(CURDIR):$(CURDIR)/figures: xelatex -interaction=nonstopmode -halt-on-error book.tex > xelatex.log 2>&1 \
	    || { tail -30 xelatex.log; echo "xelatex failed: see build/book/xelatex.log"; exit 1; }; done
	cp build/book/book.pdf $@

pdf: book/book.pdf

# The EPUB: the same document as the PDF (build/book/book.md), math as
# MathML, code chunks as their HTML, figures as SVG.
book/book.epub: build/book/book.tex book/epub.css book/filters/book.lua $(FIGURES)
	$(PANDOC) $(PANDOC_COMMON) --to epub3 --mathml --default-image-extension=svg \
	  --toc --toc-depth=2 --epub-chapter-level=1 --css book/epub.css \
	  -M title="Building Language Models from Scratch, in C" -M lang=en \
	  -M date="$$(git log -1 --format=%cs 2>/dev/null || date +%F)" \
	  -o $@ build/book/book.md

.PHONY: epub
epub: book/book.epub

book: html pdf epub

# ---- Tests ---------------------------------------------------------------------
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_BINS := $(patsubst tests/%.c,build/tests/%,$(TEST_SRC))
ASAN_BINS := $(patsubst tests/%.c,build/asan/tests/%,$(TEST_SRC))

TEST_HDR  := $(wildcard tests/*.h)

# A chapter's tests include its tangled program; the runtime's do not need
# any chapter, so a chapter being edited cannot stop them from building.
build/tests/test_ch%: tests/test_ch%.c $(LIBCOMMON) $(TEST_HDR) $(STAMPS) $(CHAPTER_CUDA) $(CHAPTER_TUS)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -DTESTING $(CHAPTER_INCLUDES) -o $@ $< $(CHAPTER_TUS) $(CHAPTER_CUDA) $(LIBCOMMON) $(LDLIBS)

build/tests/%: tests/%.c $(LIBCOMMON) $(TEST_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -DTESTING -o $@ $< $(LIBCOMMON) $(LDLIBS)

build/asan/tests/test_ch%: tests/test_ch%.c $(ASAN_LIB) $(TEST_HDR) $(STAMPS) $(CHAPTER_CUDA_ASAN) $(CHAPTER_TUS_ASAN)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -DTESTING $(CHAPTER_INCLUDES) -o $@ $< $(CHAPTER_TUS_ASAN) $(CHAPTER_CUDA_ASAN) $(ASAN_LIB) $(LDLIBS)

build/asan/tests/%: tests/%.c $(ASAN_LIB) $(TEST_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -DTESTING -o $@ $< $(ASAN_LIB) $(LDLIBS)

# Chapter 12's CUDA kernels on the CPU (tools/flashemu/README.md): the tangled
# flash.cu, rewritten by tools/flashemu/gen.py into host C++ that runs under
# the emulator (emu.h, emu.cpp), once as the chapter has it and once per
# mutation that tests/test_flash_emu.c must catch.  FLASHEMU_SRC=path runs
# another copy of flash.cu.
FLASHEMU_SRC      ?= build/12-memopt/flash.cu.in
FLASHEMU_MUTANTS  := v1-mask mask edge ldsm-order no-trans wait frag-index barrier dq-atomic \
                     wg-wait wg-desc wg-overwrite wg-proxy wg-fence wg-afrag wg-trans \
                     v7-stsm v7-proxy v7-trans-a v7-lbo v7-zero v7-stage v7-fence v7-wait v7-dqcol \
                     v6-wait-pv v6-wait-s v6-barrier v6-two-stages v6-stage v6-pack-early v6-last-stage \
                     v9-kfull v9-vfree v9-parity v9-free-early v9-last-wait v9-fence v9-free-count \
                     v13-mask v14-swizzle v14-block v14-turn v14-last-turn \
                     v17-wait v17-stage v17-stride v18-order v19-fence v19-wait v19-bar v19-swz v20-order \
                     v21-qfree v21-last-stage v21-snake v22-order v23-clear v23-shuffle v23-finish \
                     v24-parity v24-wait v24-counter v24-first v25-keys v26-free v26-parity v26-keys \
                     v26-bytes v27-skip v27-last lse-off v26-ok
FLASHEMU_CXXFLAGS := -std=c++17 -O2 -g -fno-strict-aliasing -Wall -Wextra -Wno-unused-function \
                     -Wno-unused-parameter -Wno-unused-variable -Wno-psabi -Icommon -Itools/flashemu
FLASHEMU_OBJ      := build/flashemu/emu.o build/flashemu/mbar.o build/flashemu/tma.o build/flashemu/orig.o \
                     $(patsubst %,build/flashemu/mut-%.o,$(FLASHEMU_MUTANTS))
FLASHEMU_GEN      := tools/flashemu/gen.py common/gpu/internal.cuh build/12-memopt/.tangled

.SECONDARY: $(patsubst %.o,%.cpp,$(filter-out build/flashemu/emu.o,$(FLASHEMU_OBJ)))

build/flashemu/orig.cpp: $(FLASHEMU_GEN) $(FLASHEMU_SRC)
	@mkdir -p $(@D)
	$(PYTHON) tools/flashemu/gen.py $(FLASHEMU_SRC) common/gpu/internal.cuh $@ --prefix emu_orig

# the emulator's own test kernel for mbarrier and named barriers (test_mbar_unit)
build/flashemu/mbar.cpp: tools/flashemu/gen.py common/gpu/internal.cuh tools/flashemu/mbar_test.cu
	@mkdir -p $(@D)
	$(PYTHON) tools/flashemu/gen.py tools/flashemu/mbar_test.cu common/gpu/internal.cuh $@ --prefix emu_mbart

# ... and for the bulk tensor copy (TMA) and the mbarrier's tx-count (test_tma_unit).  (-Wno-psabi above:
# g++'s note on passing the 128-byte-aligned CUtensorMap by value, the kernels' __grid_constant__ parameter)
build/flashemu/tma.cpp: tools/flashemu/gen.py common/gpu/internal.cuh tools/flashemu/tma_test.cu
	@mkdir -p $(@D)
	$(PYTHON) tools/flashemu/gen.py tools/flashemu/tma_test.cu common/gpu/internal.cuh $@ --prefix emu_tmat

build/flashemu/mut-%.cpp: $(FLASHEMU_GEN) $(FLASHEMU_SRC)
	@mkdir -p $(@D)
	$(PYTHON) tools/flashemu/gen.py $(FLASHEMU_SRC) common/gpu/internal.cuh $@ --prefix emu_mut_$(subst -,_,$*) --mutate $*

build/flashemu/emu.o: tools/flashemu/emu.cpp tools/flashemu/emu.h $(COMMON_HDR)
	@mkdir -p $(@D)
	$(CXX) $(FLASHEMU_CXXFLAGS) -c $< -o $@

build/flashemu/%.o: build/flashemu/%.cpp tools/flashemu/emu.h $(COMMON_HDR)
	$(CXX) $(FLASHEMU_CXXFLAGS) -c $< -o $@

build/tests/test_flash_emu: tests/test_flash_emu.c $(FLASHEMU_OBJ) $(LIBCOMMON_CPU) $(TEST_HDR) build/12-memopt/.tangled
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -DTESTING -Ibuild/12-memopt -o $@ $< $(FLASHEMU_OBJ) $(LIBCOMMON_CPU) $(LDLIBS) -lstdc++

# The AddressSanitizer build runs the kernel file as the chapter has it (no
# mutants), so that a kernel reading or writing past a buffer stops it.
FLASHEMU_ASAN_OBJ := build/asan/flashemu/emu.o build/asan/flashemu/mbar.o build/asan/flashemu/tma.o build/asan/flashemu/orig.o

build/asan/flashemu/mbar.o: build/flashemu/mbar.cpp tools/flashemu/emu.h $(COMMON_HDR)
	@mkdir -p $(@D)
	$(CXX) $(FLASHEMU_CXXFLAGS) $(ASANFLAGS) -c $< -o $@

build/asan/flashemu/tma.o: build/flashemu/tma.cpp tools/flashemu/emu.h $(COMMON_HDR)
	@mkdir -p $(@D)
	$(CXX) $(FLASHEMU_CXXFLAGS) $(ASANFLAGS) -c $< -o $@

build/asan/flashemu/emu.o: tools/flashemu/emu.cpp tools/flashemu/emu.h $(COMMON_HDR)
	@mkdir -p $(@D)
	$(CXX) $(FLASHEMU_CXXFLAGS) $(ASANFLAGS) -c $< -o $@

build/asan/flashemu/orig.o: build/flashemu/orig.cpp tools/flashemu/emu.h $(COMMON_HDR)
	@mkdir -p $(@D)
	$(CXX) $(FLASHEMU_CXXFLAGS) $(ASANFLAGS) -c $< -o $@

build/asan/tests/test_flash_emu: tests/test_flash_emu.c $(FLASHEMU_ASAN_OBJ) $(ASAN_LIB) $(TEST_HDR) build/12-memopt/.tangled
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -DTESTING -DFLASH_EMU_NO_MUTANTS -Ibuild/12-memopt -o $@ $< $(FLASHEMU_ASAN_OBJ) \
	  $(ASAN_LIB) $(LDLIBS) -lstdc++

test-c: $(TEST_BINS) $(ASAN_BINS) $(PROGRAMS) $(if $(NVCC),build/bin/bench-gpu)

test: setup
	@$(MAKE) --no-print-directory -j$(JOBS) info test-c book
	@tests/run

# ---- Fuzzing and fault injection ---------------------------------------------
# tests/fuzz/fuzz_*.c: one libFuzzer target per loader of outside bytes, built
# with clang, AddressSanitizer and UndefinedBehaviorSanitizer against a copy of
# common/ instrumented for coverage.  make test replays their corpora
# (tests/fuzz/corpus/, tests/fuzz/regress/) and fuzzes each for a few seconds
# (tests/test_fuzz.sh); make fuzz runs each for FUZZ_SECONDS and reports.
# build/tests/fault_trainer is the trainer tests/test_faults.py kills.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 180
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC)) build/fuzz/make_seeds
FUZZ_OBJ  := $(patsubst common/%.c,build/fuzz/common/%.o,$(COMMON_SRC)) build/fuzz/common/gpu_none.o
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -O1 -g -fno-omit-frame-pointer -Icommon -DBOOK_ROOT='"$(CURDIR)"' \
               -fno-sanitize-recover=all

build/fuzz/common/%.o: common/%.c $(COMMON_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

build/fuzz/common/gpu_none.o: build/common/gpu_none.c $(COMMON_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/fuzz -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) -lm

build/fuzz/make_seeds: tests/fuzz/make_seeds.c $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -o $@ $< $(LIBCOMMON) $(LDLIBS)

.SECONDARY: $(FUZZ_OBJ)
test-c: $(FUZZ_BINS) build/tests/fault_trainer

.PHONY: fuzz
fuzz: $(FUZZ_BINS) build/tests/fault_trainer
	tests/fuzz/run $(FUZZ_SECONDS)

# Issue 25: common/gpu/activations.cu under the same emulator (tests/test_act_emu.c):
# GELU's overwriting backward pass and its neighbours, checked without a GPU.
build/flashemu/act.cpp: tools/flashemu/gen.py common/gpu/internal.cuh common/gpu/activations.cu
	@mkdir -p $(@D)
	$(PYTHON) tools/flashemu/gen.py common/gpu/activations.cu common/gpu/internal.cuh $@ --prefix emu_act

build/flashemu/act.o: FLASHEMU_CXXFLAGS += -Wno-unknown-pragmas

build/tests/test_act_emu: tests/test_act_emu.c build/flashemu/emu.o build/flashemu/act.o $(LIBCOMMON_CPU) $(TEST_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -DTESTING -o $@ $< build/flashemu/emu.o build/flashemu/act.o $(LIBCOMMON_CPU) $(LDLIBS) -lstdc++

build/asan/flashemu/act.o: build/flashemu/act.cpp tools/flashemu/emu.h $(COMMON_HDR)
	@mkdir -p $(@D)
	$(CXX) $(FLASHEMU_CXXFLAGS) -Wno-unknown-pragmas $(ASANFLAGS) -c $< -o $@

build/asan/tests/test_act_emu: tests/test_act_emu.c build/asan/flashemu/emu.o build/asan/flashemu/act.o $(ASAN_LIB) $(TEST_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(ASANFLAGS) -DTESTING -o $@ $< build/asan/flashemu/emu.o build/asan/flashemu/act.o $(ASAN_LIB) \
	  $(LDLIBS) -lstdc++

# ---- Benchmarks ----------------------------------------------------------------
build/bin/bench-matmul: bench/matmul.c $(LIBCOMMON)
	@mkdir -p $(@D)
	$(if $(BLAS),,@echo "make bench needs OpenBLAS: sudo apt-get install libopenblas-dev"; exit 1)
	$(CC) $(ALLCFLAGS) -O3 -o $@ $< $(LIBCOMMON) $(BLAS) $(LDLIBS)

# issue 25: the GPT's training step with each fusion (GPT_FUSE_*) off and on (a GPU)
build/bin/bench-fuse: bench/fuse.c $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -o $@ $< $(LIBCOMMON) $(LDLIBS)

bench: build/bin/bench-matmul
	build/bin/bench-matmul --out figures/data

# ---- The GPU (run these on a machine with one) -----------------------------------
# make test-gpu   every kernel against its CPU reference, then the same suite
#                 under compute-sanitizer's memcheck and racecheck
# make bench-gpu  every kernel beside the copy and GEMM ceilings, bf16 and f32,
#                 each change beside the kernel it replaced (bench/gpu_before.cu),
#                 and PyTorch doing the same jobs, eager, as a CUDA graph and
#                 compiled (writes figures/data/bench-gpu-*.tsv)
SANITIZER ?= $(or $(shell command -v compute-sanitizer 2>/dev/null),$(wildcard $(CUDA_HOME)/bin/compute-sanitizer))

# bench/gpu_before.cu: the kernels as they were before each change, timed
# beside today's by bench-gpu --variants.
build/bench/gpu_before.o: bench/gpu_before.cu bench/gpu_before.h $(GPU_HDR)
	@mkdir -p $(@D)
	$(if $(NVCC),,@echo "make bench-gpu needs nvcc (CUDA)"; exit 1)
	$(NVCC) $(ALLNVCCFLAGS) -c $< -o $@

build/bin/bench-gpu: bench/gpu.c build/bench/gpu_before.o $(LIBCOMMON)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -o $@ $< build/bench/gpu_before.o $(LIBCOMMON) $(LDLIBS)

test-gpu: build/tests/test_gpu build/tests/test_gpt_gpu build/tests/test_ch09_gpu
	$(if $(NVCC),,@echo "make test-gpu needs nvcc (CUDA)"; exit 1)
	build/tests/test_gpu
	build/tests/test_gpt_gpu
	build/tests/test_ch09_gpu
	$(if $(SANITIZER),,@echo "compute-sanitizer not found"; exit 1)
	$(SANITIZER) --tool memcheck --leak-check full --error-exitcode 1 build/tests/test_gpu
	CH09_GPU_SANITIZE=1 $(SANITIZER) --tool memcheck --leak-check full --error-exitcode 1 build/tests/test_ch09_gpu
	$(SANITIZER) --tool racecheck --error-exitcode 1 build/tests/test_gpu

bench-gpu: build/bin/bench-gpu
	build/bin/bench-gpu --dtype bf16 --variants --out figures/data
	build/bin/bench-gpu --dtype f32 --out figures/data
	$(PYTHON) bench/gpu_torch.py --dtype bf16 --out figures/data --ours figures/data/bench-gpu-bf16.tsv

clean:
	rm -rf build book/html book/book.pdf book/book.epub figures/*.svg figures/*.pdf

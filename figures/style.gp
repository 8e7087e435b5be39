# style.gp -- one visual style for every figure of the book.
#
# The Makefile runs   gnuplot -e "fmt='svg'; outfile='figures/x.svg'; datadir='figures/data'" \
#                             figures/style.gp build/NN-name/x.gp
# once for SVG (the HTML book), once with fmt='svgdark' (the HTML book in
# dark mode: figures/x-dark.svg, light ink on the page's dark background)
# and once with fmt='pdf' (the printed book).
# A figure script then only says what to plot.  It may change the shape
# with `eval square` (a square canvas), `eval tall` or `eval wide_short`,
# and reads its data as datadir."/chNN-name.tsv"; the data files are
# tab-separated with '#' provenance lines and one line of column names, so
# columns can be named:  using "order":"val_ppl".
#
# Colours: the Okabe-Ito palette, distinguishable with the common forms of
# colour blindness, with the same hues on the light and the dark background
# (so that a caption's "the orange curve" holds in both); only its black
# becomes light grey in the dark version.  A script that writes its own
# text or lines in a neutral colour uses the variables ink (text), faint
# (reference lines) and paper (the background) rather than a fixed colour.
# A heat map whose white cells mean something ("never seen") says
# `eval white_paper`: its plot area stays white in the dark version too.

if (!exists("fmt")) fmt = "svg"
if (!exists("outfile")) outfile = "figure.".fmt
if (!exists("datadir")) datadir = "figures/data"

dark  = (fmt eq "svgdark")
paper = dark ? "#1d1f23" : "#ffffff"
ink   = dark ? "#dcdcd8" : "#222222"
ink2  = dark ? "#c4c4c0" : "#333333"
frame = dark ? "#9a9aa0" : "#555555"
faint = dark ? "#8a8a90" : "#999999"
gridc = dark ? "#3a3c42" : "#e4e4e4"

if (fmt eq "svg" || fmt eq "svgdark") {
    termbase = "set terminal svg dynamic enhanced font 'DejaVu Sans,14' linewidth 1.4 background rgb '".paper."' size "
    wsize = "760,460"; sqsize = "600,560"; tallsize = "760,640"; shortsize = "760,330"
} else {
    termbase = "set terminal pdfcairo enhanced color font 'DejaVu Sans,9' linewidth 1.2 size "
    wsize = "5.2in,3.15in"; sqsize = "4.2in,3.9in"; tallsize = "5.2in,4.4in"; shortsize = "5.2in,2.3in"
}
eval termbase.wsize
set output outfile
square     = termbase.sqsize."; set output outfile"
tall       = termbase.tallsize."; set output outfile"
wide_short = termbase.shortsize."; set output outfile"

set encoding utf8
set datafile separator "\t"
set datafile commentschars "#"
set datafile columnheaders

set border 3 lc rgb frame lw 1
set tics nomirror out scale 0.6 textcolor rgb ink2
set grid back lc rgb gridc lw 1 dt 1
set key top right noopaque samplen 2.5 spacing 1.15 textcolor rgb ink
set xlabel textcolor rgb ink
set ylabel textcolor rgb ink
set y2label textcolor rgb ink
set cblabel textcolor rgb ink
set title textcolor rgb ink

okabe = "#0072B2 #D55E00 #009E73 #CC79A7 #E69F00 #56B4E9 ".(dark ? "#E0E0E0" : "#000000")." #F0E442"
do for [i=1:8] {
    set linetype i lc rgb word(okabe, i) lw 2 pt 7 ps 0.7 dt 1
}
# Dashed companions (validation curves beside training ones): linetype 11..18.
do for [i=1:8] {
    set linetype 10+i lc rgb word(okabe, i) lw 2 pt 6 ps 0.7 dt 2
}

# Heat maps: a perceptually ordered palette from white through blue to dark.
set palette defined (0 "#ffffff", 0.15 "#d6e6f4", 0.4 "#6aaed6", 0.7 "#2171b5", 1 "#08306b")
set style fill solid 0.85 border -1
white_paper = "set object 99 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '#ffffff' fillstyle solid 1.0 noborder"

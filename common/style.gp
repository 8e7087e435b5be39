# style.gp -- one visual style for every figure of the book.
#
# The Makefile runs   gnuplot -e "fmt='svg'; outfile='figures/x.svg'; datadir='figures/data'" \
#                             common/style.gp build/NN-name/x.gp
# once for SVG (the HTML book) and once with fmt='pdf' (the printed book).
# A figure script then only says what to plot.  It may change the shape
# with `eval square` (a square canvas), `eval tall` or `eval wide_short`,
# and reads its data as datadir."/chNN-name.tsv"; the data files are
# tab-separated with '#' provenance lines and one line of column names, so
# columns can be named:  using "order":"val_ppl".
#
# Colours: the Okabe-Ito palette, distinguishable with the common forms of
# colour blindness and legible on the white card the HTML book puts behind
# every figure in light and in dark mode.

if (!exists("fmt")) fmt = "svg"
if (!exists("outfile")) outfile = "figure.".fmt
if (!exists("datadir")) datadir = "figures/data"

if (fmt eq "svg") {
    termbase = "set terminal svg dynamic enhanced font 'DejaVu Sans,14' linewidth 1.4 background rgb 'white' size "
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

set border 3 lc rgb "#555555" lw 1
set tics nomirror out scale 0.6 textcolor rgb "#333333"
set grid back lc rgb "#e4e4e4" lw 1 dt 1
set key top right noopaque samplen 2.5 spacing 1.15 textcolor rgb "#222222"
set xlabel textcolor rgb "#222222"
set ylabel textcolor rgb "#222222"
set title textcolor rgb "#222222"

okabe = "#0072B2 #D55E00 #009E73 #CC79A7 #E69F00 #56B4E9 #000000 #F0E442"
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

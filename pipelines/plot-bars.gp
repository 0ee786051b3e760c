# Per-language bars for each system: clean Tatoeba accuracy@1 X->E with 95%
# bootstrap confidence intervals. Variables: infile (tables/plotdata.awk's
# bars.tsv: language, then mean, low, high per system), ns (systems).
set datafile separator "\t"
set termoption noenhanced
set datafile missing "NaN"
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical noenhanced
set ylabel "accuracy@1 X->E (%)"
set yrange [0:100]
set grid ytics
set title "Tatoeba, clean queries (95% bootstrap CIs)" noenhanced
plot for [i=0:ns-1] infile using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) title columnheader(2+3*i)

# Per-language bars for each system: clean Tatoeba accuracy@1, X->E.
# Variables: infile (lang + one column per system), ns (number of systems).
set datafile separator "\t"
set termoption noenhanced
set datafile missing "NaN"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical noenhanced
set ylabel "accuracy@1 X->E (%)"
set yrange [0:*]
set grid ytics
set title "Tatoeba, clean queries" noenhanced
plot for [i=2:ns+1] infile using i:xtic(1) title columnheader(i)

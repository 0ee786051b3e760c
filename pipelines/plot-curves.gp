# Robustness curves: group mean accuracy@1 (X->E) against perturbation
# strength (0 = clean), one line per system, low- and high-resource side by side.
# Variables: low, high (x + one column per system), haslow, hashigh (1 when
# the group has data), ns, xlab.
set datafile separator "\t"
set termoption noenhanced
set datafile missing "NaN"
set key bottom left noenhanced
set ylabel "accuracy@1 X->E (%)"
set xlabel xlab
set grid
set yrange [0:*]
set multiplot layout 1, (haslow + hashigh > 0 ? haslow + hashigh : 1)
if (haslow) {
  set title "low-resource languages"
  plot for [i=2:ns+1] low using 1:i with linespoints lw 2 title columnheader(i)
}
if (hashigh) {
  set title "high-resource languages"
  plot for [i=2:ns+1] high using 1:i with linespoints lw 2 title columnheader(i)
}
if (!haslow && !hashigh) {
  set title "no data"
  unset key
  plot [0:1] NaN notitle
}
unset multiplot

# Robustness curves: group mean accuracy@1 X->E against noise strength (0 =
# clean) with 95% bootstrap confidence intervals, one line per system, low-
# and high-resource side by side, the legend outside the plots.
# Variables: low, high (tables/plotdata.awk's x + mean, low, high per
# system), nlow, nhigh (their data rows; a group without rows is left
# out), ns, xlab.
set datafile separator "\t"
set termoption noenhanced
set datafile missing "NaN"
set ylabel "accuracy@1 X->E (%)"
set xlabel xlab
set grid
set yrange [0:*]
set multiplot layout 1, (nlow > 0) + (nhigh > 0) title "95% bootstrap confidence intervals"
set key outside right top vertical noenhanced
if (nlow > 0) {
  set title "low-resource languages"
  plot for [i=0:ns-1] low using 1:(column(2+3*i)):(column(3+3*i)):(column(4+3*i)) with yerrorlines lw 2 title columnheader(2+3*i)
}
if (nhigh > 0) {
  set title "high-resource languages"
  plot for [i=0:ns-1] high using 1:(column(2+3*i)):(column(3+3*i)):(column(4+3*i)) with yerrorlines lw 2 title columnheader(2+3*i)
}
unset multiplot

#!/usr/bin/gawk -f
# tables/ablation.awk -v langs="L1 L2 ..." [-v elapsed=S] results/ablation.tsv
# The ablation as a markdown table: one row per setting (in run order), dev
# accuracy@1 X->E per language (percent), the low- and high-resource means,
# the mean over all languages, and the training time summed over languages;
# the OT setting with the best mean is marked.
BEGIN { FS = "\t"; nl = split(langs, L, " ") }
NR == 1 { next }
{
  if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1; sys[$1] = $2 }
  acc[$1, $3] = $5; grp[$3] = $4; secs[$1] += $6
}
END {
  for (i = 1; i <= ns; i++) {
    s = order[i]; m[s] = 0; n = 0
    for (j = 1; j <= nl; j++) if ((s, L[j]) in acc) { m[s] += acc[s, L[j]]; n++ }
    m[s] = n ? m[s] / n : 0
    if (sys[s] == "ot" && (best == "" || m[s] > m[best])) best = s
  }
  printf "# Ablation: OT distillation settings on held-out dev pairs\n\n"
  printf "Dev accuracy@1 X->E (%%), maxsim-sym with CSLS, on the pairs student.sh holds out of every training sample (min(DEV_PAIRS, 10%%) per language). No test set is used. Made by `pipelines/ablation.sh`%s.\n\n", elapsed ? sprintf(" in %d s (%.1f min) on this machine", elapsed, elapsed / 60) : ""
  printf "| setting | system |"; for (j = 1; j <= nl; j++) printf " %s |", L[j]
  printf " low mean | high mean | mean | train s |\n|---|---|"; for (j = 1; j <= nl + 4; j++) printf "---|"; printf "\n"
  for (i = 1; i <= ns; i++) {
    s = order[i]
    printf "| %s%s | %s |", s == best ? "**" s "**" : s, "", sys[s]
    lo = hi = nlo = nhi = 0
    for (j = 1; j <= nl; j++) {
      if (!((s, L[j]) in acc)) { printf " n/a |"; continue }
      printf " %.1f |", 100 * acc[s, L[j]]
      if (grp[L[j]] == "low") { lo += acc[s, L[j]]; nlo++ } else { hi += acc[s, L[j]]; nhi++ }
    }
    printf " %s | %s | %.1f | %.0f |\n", nlo ? sprintf("%.1f", 100 * lo / nlo) : "n/a", nhi ? sprintf("%.1f", 100 * hi / nhi) : "n/a", 100 * m[s], secs[s]
  }
  printf "\nBest OT setting by the mean over languages: **%s**.\n", best
}

#!/usr/bin/gawk -f
# tables/robustness.awk -v systems="..." -v conds="..." results.tsv: group
# mean accuracy@1 X->E (%) per condition, and in parentheses the relative
# change against clean over the same languages (a condition a language lacks,
# cs without a dictionary, leaves it out of that cell).
BEGIN { FS = "\t"; ns = split(systems, S, " "); nc = split(conds, C, " ") }
NR > 1 && $1 == "tatoeba" && $6 == "x2e" && $7 == "acc.1" { v[$2, $4, $5] = $8; g[$2] = $3; langs[$2] = 1 }
END {
  printf "| group | system |"; for (k = 1; k <= nc; k++) printf " %s |", C[k]; printf "\n|---|---|"
  for (k = 1; k <= nc; k++) printf "---|"; printf "\n"
  for (pass = 1; pass <= 2; pass++) {
    grp = pass == 1 ? "low" : "high"
    for (j = 1; j <= ns; j++) {
      printf "| %s | %s |", grp, S[j]
      for (k = 1; k <= nc; k++) {
        s = s0 = m = 0
        for (l in langs) if (g[l] == grp && (l, S[j], C[k]) in v && (l, S[j], "clean") in v) { s += v[l, S[j], C[k]]; s0 += v[l, S[j], "clean"]; m++ }
        if (!m) { printf " n/a |"; continue }
        if (C[k] == "clean") printf " %.1f |", 100 * s / m
        else printf " %.1f (%+.0f%%) |", 100 * s / m, (s0 > 0 ? 100 * (s - s0) / s0 : 0)
      }
      printf "\n"
    }
  }
}

#!/usr/bin/gawk -f
# tables/lareqa.awk -v systems="..." -v conds="..." results.tsv: LAReQA mAP@20
# (%) over all questions per condition, then per question language (clean).
BEGIN { FS = "\t"; ns = split(systems, S, " "); nc = split(conds, C, " ") }
NR > 1 && $1 == "lareqa" { v[$2, $4, $5] = $8; if ($2 != "all") ls[$2] = 1 }
NR > 1 && $1 == "lareqa-sent" { sent[$4] = $8; hassent = 1 }
END {
  n = asorti(ls, Lg)
  printf "| system |"; for (k = 1; k <= nc; k++) printf " all, %s |", C[k]
  if (hassent) printf " all, clean, sentence only |"
  for (i = 1; i <= n; i++) printf " %s |", Lg[i]; printf "\n|---|"
  for (k = 1; k <= nc + n + hassent; k++) printf "---|"; printf "\n"
  for (j = 1; j <= ns; j++) {
    printf "| %s |", S[j]
    for (k = 1; k <= nc; k++) printf ((("all", S[j], C[k]) in v) ? " %.1f |" : " n/a |"), 100 * v["all", S[j], C[k]]
    if (hassent) printf ((S[j] in sent) ? " %.1f |" : " n/a |"), 100 * sent[S[j]]
    for (i = 1; i <= n; i++) printf (((Lg[i], S[j], "clean") in v) ? " %.1f |" : " n/a |"), 100 * v[Lg[i], S[j], "clean"]
    printf "\n"
  }
}

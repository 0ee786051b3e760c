#!/usr/bin/gawk -f
# tables/tatoeba.awk -v systems="..." -v langs="..." results.tsv: clean
# Tatoeba accuracy@1 X->E / E->X (%) per language and system, then the
# low- and high-resource group means (over the languages a system applies to;
# count in parentheses when it is not all of them).
BEGIN { FS = "\t"; ns = split(systems, S, " "); nl = split(langs, L, " ") }
NR > 1 && $1 == "tatoeba" && $5 == "clean" && $7 == "acc.1" { v[$2, $4, $6] = $8; g[$2] = $3 }
END {
  printf "| language | group |"; for (j = 1; j <= ns; j++) printf " %s |", S[j]; printf "\n|---|---|"
  for (j = 1; j <= ns; j++) printf "---|"; printf "\n"
  for (pass = 1; pass <= 2; pass++) {
    grp = pass == 1 ? "low" : "high"
    for (i = 1; i <= nl; i++) {
      if (g[L[i]] != grp) continue
      printf "| %s | %s |", L[i], grp
      for (j = 1; j <= ns; j++) {
        x = (L[i], S[j], "x2e") in v; e = (L[i], S[j], "e2x") in v
        if (!x) { printf " n/a |"; continue }
        printf " %.1f", 100 * v[L[i], S[j], "x2e"]; if (e) printf " / %.1f", 100 * v[L[i], S[j], "e2x"]; printf " |"
        sx[grp, S[j]] += v[L[i], S[j], "x2e"]; n[grp, S[j]]++
        if (e) { se[grp, S[j]] += v[L[i], S[j], "e2x"]; ne[grp, S[j]]++ }
        ng[grp, L[i]] = 1
      }
      printf "\n"
    }
    all = 0; for (k in ng) { split(k, kk, SUBSEP); if (kk[1] == grp) all++ }
    printf "| **%s mean** | |", grp
    for (j = 1; j <= ns; j++) {
      if (!n[grp, S[j]]) { printf " n/a |"; continue }
      printf " **%.1f", 100 * sx[grp, S[j]] / n[grp, S[j]]
      if (ne[grp, S[j]]) printf " / %.1f", 100 * se[grp, S[j]] / ne[grp, S[j]]
      printf "**%s |", n[grp, S[j]] < all ? " (" n[grp, S[j]] ")" : ""
    }
    printf "\n"
  }
}

#!/usr/bin/gawk -f
# tables/adversarial.awk -v systems="..." -v cmp=POOLED_COMPARE_TSV results.tsv
# The research question first: each adversarial OT variant against plain ot,
# per resource group (means over the group's languages, X->E accuracy@1):
#   clean      the change in points (its cost), and the pooled paired
#              randomization test over the group's queries
#   typo0.3    the relative drop from clean to typo0.3 of ot and of the
#              variant, and the share of ot's drop the variant cuts
#   target     cut >= 40% in both groups, clean within 1 point, and the
#              typo0.3 gain significant (pooled p < 0.05)
BEGIN {
  FS = "\t"; ns = split(systems, S, " ")
  while ((getline line < cmp) > 0) { split(line, f, "\t"); p[f[1], f[2], f[3], f[4]] = f[8]; d[f[1], f[2], f[3], f[4]] = f[6] - f[5] }
}
NR > 1 && $1 == "tatoeba" && $6 == "x2e" && $7 == "acc.1" { v[$2, $4, $5] = $8; g[$2] = $3; langs[$2] = 1 }
function gmean(gr, sys, cond,   l, s, m) {
  for (l in langs) if (g[l] == gr && (l, sys, cond) in v && (l, "ot", cond) in v && (l, sys, "clean") in v && (l, "ot", "clean") in v) { s += v[l, sys, cond]; m++ }
  return m ? s / m : "n/a"
}
function pv(gr, cond, sys) { return (gr, cond, "ot", sys) in p ? sprintf("%.3g", p[gr, cond, "ot", sys]) : "n/a" }
END {
  print "| system | group | clean: ot | clean: system | clean change (p) | typo0.3 drop: ot | typo0.3 drop: system | drop cut | typo0.3 gain (p) | target met |"
  print "|---|---|---|---|---|---|---|---|---|---|"
  for (j = 1; j <= ns; j++) {
    if (S[j] !~ /^ot-/) continue
    ok_all = 1; rows = ""
    for (pass = 1; pass <= 2; pass++) {
      grp = pass == 1 ? "low" : "high"
      c0 = gmean(grp, "ot", "clean"); c1 = gmean(grp, S[j], "clean")
      t0 = gmean(grp, "ot", "typo0.3"); t1 = gmean(grp, S[j], "typo0.3")
      if (c0 == "n/a" || t0 == "n/a" || c1 == "n/a" || t1 == "n/a") { rows = rows sprintf("| %s | %s | n/a | | | | | | | |\n", S[j], grp); ok_all = 0; continue }
      r0 = (c0 - t0) / c0; r1 = (c1 - t1) / c1; cut = r0 > 0 ? 1 - r1 / r0 : 0
      pt = (grp, "typo0.3", "ot", S[j]) in p ? p[grp, "typo0.3", "ot", S[j]] : 1
      ok = cut >= 0.4 && (c1 - c0) >= -0.01 && (grp, "typo0.3", "ot", S[j]) in d && d[grp, "typo0.3", "ot", S[j]] > 0 && pt < 0.05
      ok_all = ok_all && ok
      rows = rows sprintf("| %s | %s | %.1f | %.1f | %+.1f (%s) | %.0f%% | %.0f%% | %.0f%% | %+.1f (%s) | %s |\n", S[j], grp, 100 * c0, 100 * c1, 100 * (c1 - c0), pv(grp, "clean", S[j]), 100 * r0, 100 * r1, 100 * cut, 100 * (t1 - t0), pv(grp, "typo0.3", S[j]), ok ? "yes" : "no")
    }
    printf "%s", rows
    verdict[S[j]] = ok_all
  }
  met = ""
  for (j = 1; j <= ns; j++) if (S[j] ~ /^ot-/ && verdict[S[j]]) met = met " " S[j]
  printf "\nTarget (a variant cutting plain OT's relative typo0.3 drop by at least 40%% in both groups, clean accuracy within 1 point, the typo0.3 gain significant in both): %s.\n", met == "" ? "**not met** by any variant" : "**met** by" met
}

#!/usr/bin/gawk -f
# tables/goals.awk -v langs="..." -v cmp=COMPARE_TSV_ALL results.tsv
# Issue 12's goals for the students, checked on this run's clean X->E
# Tatoeba accuracy@1 (cmp: per-language and pooled score --compare rows):
#   every OT-family system >= lex in every language
#   ot >= cos in both groups (group means)
#   every low-resource language: ot >= 3 x lex, with ot > lex at p < 0.05
#   swh: ot >= dict
BEGIN {
  FS = "\t"; nl = split(langs, L, " ")
  while ((getline line < cmp) > 0) { split(line, f, "\t"); p[f[1], f[2], f[3], f[4]] = f[8] }
}
NR > 1 && $1 == "tatoeba" && $5 == "clean" && $6 == "x2e" && $7 == "acc.1" { v[$2, $4] = $8; g[$2] = $3; if ($4 ~ /^ot/) ot[$4] = 1 }
function yn(b) { return b ? "yes" : "**no**" }
END {
  print "| goal | measured | met |"
  print "|---|---|---|"
  bad = ""; n = 0
  for (s in ot) for (i = 1; i <= nl; i++) if ((L[i], s) in v && (L[i], "lex") in v) { n++; if (v[L[i], s] < v[L[i], "lex"]) bad = bad sprintf(" %s/%s %.1f<%.1f", s, L[i], 100 * v[L[i], s], 100 * v[L[i], "lex"]) }
  printf "| every OT-family system at least lex, every language | %d system-language pairs%s | %s |\n", n, bad == "" ? ", none below" : "; below:" bad, yn(bad == "")
  for (pass = 1; pass <= 2; pass++) {
    grp = pass == 1 ? "low" : "high"; so = sc = m = 0
    for (i = 1; i <= nl; i++) if (g[L[i]] == grp && (L[i], "ot") in v && (L[i], "cos") in v) { so += v[L[i], "ot"]; sc += v[L[i], "cos"]; m++ }
    if (m) printf "| ot at least cos, %s group | ot %.1f, cos %.1f (p pooled %s) | %s |\n", grp, 100 * so / m, 100 * sc / m, (grp, "clean", "cos", "ot") in p ? sprintf("%.3g", p[grp, "clean", "cos", "ot"]) : "n/a", yn((so >= sc))
  }
  for (i = 1; i <= nl; i++) {
    l = L[i]
    if (g[l] != "low" || !((l, "ot") in v) || !((l, "lex") in v)) continue
    pl = (l, "clean", "lex", "ot") in p ? p[l, "clean", "lex", "ot"] : 1
    printf "| %s: ot at least 3 x lex, p < 0.05 | ot %.1f = %.1f x lex %.1f (p %.3g) | %s |\n", l, 100 * v[l, "ot"], (v[l, "lex"] > 0 ? v[l, "ot"] / v[l, "lex"] : 0), 100 * v[l, "lex"], pl, yn((v[l, "ot"] >= 3 * v[l, "lex"] && pl < 0.05))
  }
  if (("swh", "ot") in v && ("swh", "dict") in v)
    printf "| swh: ot at least the dictionary baseline | ot %.1f, dict %.1f, dict-bm25 %s | %s |\n", 100 * v["swh", "ot"], 100 * v["swh", "dict"], ("swh", "dict-bm25") in v ? sprintf("%.1f", 100 * v["swh", "dict-bm25"]) : "n/a", yn((v["swh", "ot"] >= v["swh", "dict"] && (!(("swh", "dict-bm25") in v) || v["swh", "ot"] >= v["swh", "dict-bm25"])))
}

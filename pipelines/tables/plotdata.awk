#!/usr/bin/gawk -f
# tables/plotdata.awk -v systems="..." -v langs="..." -v out=DIR bars.ci curves.ci
# The bootstrap intervals (tables/bootstrap.awk) as gnuplot tables, three
# columns (mean, low, high; in %) per system, NaN where a system has no value:
#   DIR/bars.tsv                 one row per language (clean X->E)
#   DIR/{typo,pgd}-{low,high}.tsv  one row per strength (0 = clean) the
#                                group has (none: a group without languages)
BEGIN { FS = "\t"; ns = split(systems, S, " "); nl = split(langs, L, " ") }
FNR == 1 { file++ }
file == 1 { split($1, k, SUBSEP); bar[k[1], k[2]] = 100 * $2 "\t" 100 * $3 "\t" 100 * $4 }
file == 2 { split($1, k, SUBSEP); cur[k[1], k[2], k[3], k[4]] = 100 * $2 "\t" 100 * $3 "\t" 100 * $4; xs[k[1], k[2], k[4]] = 1 }
function header(f,   j) { printf "x" > f; for (j = 1; j <= ns; j++) printf "\t%s\t%s-low\t%s-high", S[j], S[j], S[j] > f; printf "\n" > f }
END {
  f = out "/bars.tsv"; header(f)
  for (i = 1; i <= nl; i++) {
    printf "%s", L[i] > f
    for (j = 1; j <= ns; j++) printf "\t%s", ((L[i], S[j]) in bar) ? bar[L[i], S[j]] : "NaN\tNaN\tNaN" > f
    printf "\n" > f
  }
  close(f)
  split("typo pgd", K, " "); split("low high", G, " ")
  for (a = 1; a <= 2; a++) for (b = 1; b <= 2; b++) {
    f = out "/" K[a] "-" G[b] ".tsv"; header(f)
    n = 0; delete X
    for (kx in xs) { split(kx, q, SUBSEP); if (q[1] == G[b] && q[2] == K[a]) X[++n] = q[3] + 0 }
    asort(X)
    for (i = 1; i <= n; i++) {
      if (i > 1 && X[i] == X[i - 1]) continue
      printf "%s", X[i] > f
      for (j = 1; j <= ns; j++) { key = G[b] SUBSEP K[a] SUBSEP S[j] SUBSEP (X[i] == 0 ? 0 : X[i]); printf "\t%s", (key in cur) ? cur[key] : "NaN\tNaN\tNaN" > f }
      printf "\n" > f
    }
    close(f)
  }
}

#!/usr/bin/gawk -f
# tables/bootstrap.awk [-v B=1000] [-v seed=1] < KEY<TAB>LANG<TAB>VALUE lines
# 95% confidence intervals by the bootstrap over queries: VALUE is one
# query's score (e.g. acc.1 of one Tatoeba query) of language LANG for the
# curve point or bar KEY. A replicate resamples each language's queries with
# replacement and averages the languages' means (a group mean: every
# language weighs the same, as in the tables); the interval is the 2.5th and
# 97.5th percentile of B replicates. Prints KEY<TAB>mean<TAB>low<TAB>high,
# keys sorted. Deterministic for a given seed (gawk's own random()).
BEGIN { FS = OFS = "\t"; if (!B) B = 1000; srand(seed ? seed : 1) }
{
  if (!(($1, $2) in n)) { langs[$1] = langs[$1] SUBSEP $2; nl[$1]++ }
  v[$1, $2, ++n[$1, $2]] = $3; sum[$1, $2] += $3
}
END {
  nk = 0
  for (k in nl) K[++nk] = k
  for (i = 2; i <= nk; i++) for (j = i; j > 1 && K[j] < K[j - 1]; j--) { t = K[j]; K[j] = K[j - 1]; K[j - 1] = t }
  for (i = 1; i <= nk; i++) {
    k = K[i]; m = split(substr(langs[k], 2), L, SUBSEP)
    mean = 0
    for (a = 1; a <= m; a++) mean += sum[k, L[a]] / n[k, L[a]]
    mean /= m
    for (r = 1; r <= B; r++) {
      rep = 0
      for (a = 1; a <= m; a++) {
        c = n[k, L[a]]; s = 0
        for (q = 1; q <= c; q++) s += v[k, L[a], int(rand() * c) + 1]
        rep += s / c
      }
      R[r] = rep / m
    }
    asort(R)
    print k, mean, R[int(0.025 * B) + 1], R[int(0.975 * B)]
    delete R
  }
}

#!/usr/bin/gawk -f
# tables/ir.awk results.tsv: English retrieval, the teacher against BM25:
# Cranfield and CISI (MAP, nDCG@10, P@10) and LAReQA-en (mAP@20), with the
# teacher's share of BM25's score.
BEGIN { FS = "\t"; nt = split("cranfield cisi lareqa-en", T, " ") }
NR > 1 && ($1 == "cranfield" || $1 == "cisi" || $1 == "lareqa-en") { v[$1, $4, $7] = $8; ms[$1] = ms[$1] ($1 SUBSEP $7 in seen ? "" : " " $7); seen[$1, $7] = 1 }
END {
  print "| collection | measure | bm25 | teacher (lex) | teacher / bm25 |"
  print "|---|---|---|---|---|"
  for (i = 1; i <= nt; i++) {
    m = split(ms[T[i]], M, " ")
    for (j = 1; j <= m; j++) {
      b = v[T[i], "bm25", M[j]]; t = v[T[i], "lex", M[j]]
      if (b == "" && t == "") continue
      printf "| %s | %s | %.4f | %.4f | %s |\n", T[i], M[j], b, t, (b > 0 ? sprintf("%.3f", t / b) : "n/a")
    }
  }
}

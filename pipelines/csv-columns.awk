#!/usr/bin/gawk -f
# csv-columns.awk -v cols=NAME,NAME... [-v prefix=P] FILE.csv
# The named columns of an RFC 4180 CSV file (header row first; fields may be
# quoted, with "" for a quote and line breaks inside quotes) as TSV lines
# "PREFIX:N<TAB>col1<TAB>col2...", N the data row number from 1. White space
# in a field (line breaks included) is collapsed to single spaces, as the
# TSV needs. A missing column, or a quote left open at the end, is an error.
BEGIN { RS = "^$"; FS = "\n"; n = split(cols, want, ",") }
function field_end(   v) {
  v = fld; gsub(/[ \t\r\n]+/, " ", v); sub(/^ /, "", v); sub(/ $/, "", v)
  row[++nf] = v; fld = ""
}
function row_end(   i, out) {
  if (nf == 1 && row[1] == "") { nf = 0; return }   # an empty line
  if (!header) {
    for (i = 1; i <= nf; i++) at[row[i]] = i
    for (i = 1; i <= n; i++) if (!(want[i] in at)) { printf "%s: no column '%s'\n", FILENAME, want[i] > "/dev/stderr"; bad = 1; exit 1 }
    header = 1
  } else {
    out = prefix ":" ++rows
    for (i = 1; i <= n; i++) out = out "\t" row[at[want[i]]]
    print out
  }
  nf = 0
}
{
  s = $0; len = length(s); q = 0; fld = ""; nf = 0
  for (i = 1; i <= len; i++) {
    c = substr(s, i, 1)
    if (q) {
      if (c == "\"") { if (substr(s, i + 1, 1) == "\"") { fld = fld "\""; i++ } else q = 0 }
      else fld = fld c
    } else if (c == "\"") q = 1
    else if (c == ",") field_end()
    else if (c == "\n" || (c == "\r" && substr(s, i + 1, 1) == "\n")) { if (c == "\r") i++; field_end(); row_end() }
    else fld = fld c
  }
  if (q) { printf "%s: a quoted field is not closed at the end of the file\n", FILENAME > "/dev/stderr"; bad = 1; exit 1 }
  if (fld != "" || nf) { field_end(); row_end() }
}
END { if (bad) exit 1 }

# shellcheck shell=bash
# pipelines/lib.sh: what every stage script and pipelines/run share. Source it:
#   . "$(dirname "$0")/lib.sh"
#
# Paths (environment overrides in capitals):
#   OTCLIR_ROOT    the project (default: this file's parent directory)
#   OTCLIR_SHARED  the read-only mirror, default ../shared relative to the root
#   OTCLIR_DATA    its data folder, default $OTCLIR_SHARED/data
#   OTCLIR_BIN     the filters, default $OTCLIR_ROOT/bin
#   RESULTS        report folder, default $OTCLIR_ROOT/results
#   WORK           intermediate files, default $RESULTS/work (git-ignored)
#   CORES          cores to use in all, default nproc
#
# Conventions:
# - Record streams between stages are zstd-compressed files (*.zst); every
#   filter detects zstd input by its magic, so they are read as they are.
# - Outputs are written to NAME.tmp.PID and renamed when the command that made
#   them succeeded (`tmp NAME` / `publish NAME...`), so a killed stage never
#   leaves a complete-looking output behind.
# - Make-like skipping: `fresh OUT... -- IN...` is true when every output
#   exists and is newer than every input. Each stage lists its inputs, its own
#   script, lib.sh and a parameter stamp (`stamp NAME VALUE...`, rewritten only
#   when the parameters change), so a re-run resumes after a failure and redoes
#   exactly what a changed parameter or input invalidates. Rebuilt filters do
#   not invalidate results (delete results/work/ or the affected folder).
# - Errors: any failing command (pipefail: any filter of a chain) stops the
#   stage with "pipelines: STAGE [LANG]: failed (exit N) at line L: COMMAND"
#   and the stage's log file; progress goes to stderr, data never does.
# - Fan-out: `fanout NAME ARGS...` runs a stage once per argument tuple with
#   GNU parallel (--halt now,fail=1: the first failure stops the others;
#   --joblog WORK/log/NAME.joblog). JOBS jobs x THREADS threads = CORES.
#
# Several machines: set SSHLOGIN to a parallel --sshlogin list, e.g.
#   SSHLOGIN="2/:,4/user@hostb,4/user@hostc" THREADS_REMOTE=2 pipelines/run
# ":" is this machine, "N/" the number of jobs run at once on that host (fanout
# then passes -j 100%, so N is parallel's "ncpus"; a host without N/ gets one
# job per core it reports). Every job, here too, gets THREADS_REMOTE threads
# (default 1): give each host N x THREADS_REMOTE = its cores. Every host needs
# the project checkout (built) and the mirror at the same absolute paths, and
# results/work/ (WORK) shared: a job on one host reads what a job on another
# wrote (an NFS mount of the project folder is simplest). parallel runs each
# job with `cd $OTCLIR_ROOT` (--workdir) and passes the configuration
# variables (--env; also OTCLIR_CPU and OPENBLAS_CORETYPE when set). ssh is
# `${PARALLEL_SSH:-ssh} -o ServerAliveInterval=SSH_ALIVE -o
# ServerAliveCountMax=4` (SSH_ALIVE default 15 s): a host that stops answering
# for 4 x SSH_ALIVE seconds fails its job. A failed job is named with its host
# (from the joblog). See pipelines/README.md, "Running on several machines";
# tests/bats/cluster.bats runs fanout on two loopback sshd.

set -Eeuo pipefail
shopt -s inherit_errexit 2>/dev/null || true
# Byte order for sort/join/comm, whatever the user's locale: results must not
# depend on it. The filters decode UTF-8 themselves.
export LC_ALL=C

OTCLIR_ROOT=${OTCLIR_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
OTCLIR_SHARED=${OTCLIR_SHARED:-../shared}
case $OTCLIR_SHARED in /*) ;; *) OTCLIR_SHARED=$OTCLIR_ROOT/$OTCLIR_SHARED ;; esac
OTCLIR_DATA=${OTCLIR_DATA:-$OTCLIR_SHARED/data}
OTCLIR_BIN=${OTCLIR_BIN:-$OTCLIR_ROOT/bin}
RESULTS=${RESULTS:-$OTCLIR_ROOT/results}
WORK=${WORK:-$RESULTS/work}
LANGS_TSV=${LANGS_TSV:-$OTCLIR_ROOT/pipelines/langs.tsv}
PIPE=$OTCLIR_ROOT/pipelines
CORES=${CORES:-$(nproc)}
THREADS=${THREADS:-$CORES}
export OTCLIR_ROOT OTCLIR_SHARED OTCLIR_DATA OTCLIR_BIN RESULTS WORK LANGS_TSV CORES THREADS
export PATH="$OTCLIR_BIN:$PATH"

. "$PIPE/config.sh"

STAGE=${STAGE:-$(basename "${0%.sh}")}
LANG_ID=${LANG_ID:-}

# ---------------------------------------------------------------- messages

_where() { printf '%s%s' "$STAGE" "${LANG_ID:+ [$LANG_ID]}"; }
say() { printf '%s %s: %s\n' "$(date -u +%T)" "$(_where)" "$*" >&2; }
fail() {
  printf 'pipelines: %s: %s\n' "$(_where)" "$*" >&2
  exit 1
}
_on_err() {
  local rc=$1 line=$2 cmd=$3
  trap - ERR
  _clean_tmps
  printf 'pipelines: %s: failed (exit %s) at %s line %s: %s\n' \
    "$(_where)" "$rc" "${BASH_SOURCE[1]:-$0}" "$line" "$cmd" >&2
  exit "$rc"
}
# The temporaries of this stage: NAME.tmp.$$ ($$ is the stage script's PID,
# also inside subshells, where `tmp` runs as "$(tmp NAME)").
_clean_tmps() { [ -d "$WORK" ] && find "$WORK" -name "*.tmp.$$" -prune -exec rm -rf {} + 2>/dev/null || true; }
_on_exit() { local rc=$?; [ $rc -eq 0 ] || _clean_tmps; }

# stage_begin NAME [LANG]: name the stage and language for every message and
# stop with both named on the first failing command.
stage_begin() {
  STAGE=$1
  LANG_ID=${2:-}
  trap '_on_err $? $LINENO "$BASH_COMMAND"' ERR
  trap _on_exit EXIT
  # killed (parallel's --halt, ^C): say so, remove the temporaries
  trap 'trap - ERR; _clean_tmps; printf "pipelines: %s: interrupted\n" "$(_where)" >&2; exit 143' TERM INT
}

# ---------------------------------------------------------------- files

# tmp OUT: the temporary name to write OUT to (removed if the stage fails).
tmp() {
  mkdir -p "$(dirname "$1")"
  printf '%s' "$1.tmp.$$"
}
# publish OUT...: rename each OUT.tmp.PID into place.
publish() {
  local f
  for f in "$@"; do
    [ -e "$f.tmp.$$" ] || fail "publish: $f.tmp.$$ was not written"
    rm -rf -- "$f"
    mv -f -- "$f.tmp.$$" "$f"
  done
}

# fresh OUT... -- IN...: every OUT exists and is newer than every IN (a
# folder counts by its own mtime). A missing IN is an error: the stage that
# makes it has not run.
fresh() {
  local outs=() f o
  while [ $# -gt 0 ] && [ "$1" != -- ]; do outs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  for f in "$@"; do [ -e "$f" ] || fail "missing input $f (has the stage that makes it run?)"; done
  for o in "${outs[@]}"; do
    [ -e "$o" ] || return 1
    for f in "$@"; do [ "$o" -nt "$f" ] || return 1; done
  done
  return 0
}

# stamp NAME VALUE...: path of a file holding the stage parameters; rewritten
# (new mtime) only when they change, so it invalidates exactly what it should.
stamp() {
  local name=$1 f
  shift
  f=$WORK/params/$name
  mkdir -p "$WORK/params"
  if [ ! -e "$f" ] || [ "$(cat "$f")" != "$*" ]; then
    printf '%s\n' "$*" > "$f.tmp.$$" && mv -f "$f.tmp.$$" "$f"
  fi
  printf '%s' "$f"
}

# skip_if_fresh OUT... -- IN...: say so and return 0 when nothing is to do.
skip_if_fresh() {
  if fresh "$@"; then say "up to date, skipped"; return 0; fi
  return 1
}

zst() { zstd -q -3 -T1 -c; }          # compress a stream (stdin -> stdout)
unzst() { zstd -q -d -c -- "$@"; }    # decompress files to stdout
need() {                              # need PROG...: the filters this stage calls
  local p
  for p in "$@"; do
    command -v "$p" >/dev/null 2>&1 || fail "the filter '$p' is not built (run: make -j2 progs)"
  done
}

# ---------------------------------------------------------------- languages

# langs_field CODE COLUMN: one column of pipelines/langs.tsv for a language.
langs_field() {
  awk -F'\t' -v code="$1" -v col="$2" '
    /^#code/ { for (i = 1; i <= NF; i++) if ($i == col || $i == "#" col) c = i; next }
    /^#/ { next }
    $1 == code { if (!c) exit 2; print $c; found = 1; exit }
    END { if (!found) exit 1 }' "$LANGS_TSV" ||
    fail "language '$1' or column '$2' not in $LANGS_TSV"
}
# langs_where COLUMN VALUE: codes whose column contains VALUE (comma lists too).
langs_where() {
  awk -F'\t' -v col="$1" -v val="$2" '
    /^#code/ { for (i = 1; i <= NF; i++) if ($i == col || $i == "#" col) c = i; next }
    /^#/ { next }
    { n = split($c, a, ","); for (i = 1; i <= n; i++) if (a[i] == val) { print $1; break } }' "$LANGS_TSV"
}

# langs_iso ISO1: the langs.tsv code whose iso1 column is ISO1 (empty if none)
langs_iso() {
  awk -F'\t' -v iso="$1" '!/^#/ && $5 == iso { print $1; exit }' "$LANGS_TSV"
}

# ---------------------------------------------------------------- fan-out

# fanout NAME 'COMMAND {1} {2}' ::: ARGS... [::: ARGS...]: one job per
# argument tuple, JOBS at a time (default: as many as fit CORES, at most the
# number of tuples), each with THREADS = CORES / JOBS threads.
CONFIG_VARS=(OTCLIR_SHARED OTCLIR_DATA OTCLIR_BIN RESULTS WORK LANGS_TSV CORES QUICK ALL LANGS LAREQA TEACHER_LANGS
  TEACHER STUDENT_INIT MBERT_VOCAB DIM STUDENT_LAYERS MAX_LEN SEED EPOCHS LR BATCH_TOKENS MIN_STEPS MAX_PAIRS ADV_EPS ADV_STEPS
  ADV_WEIGHT WORST_K WOK_TYPO WOK_SWITCH SYSTEMS CONDITIONS PGD_STEPS CS_RATE E2X_CONDITIONS RANK_MODE CSLS TEST_CAP
  LAREQA_SYSTEMS LAREQA_CONDITIONS LAREQA_PAIRS COMPARE OT_EPS OT_MARGINALS EVAL_MAX_LEN STUDENT_POSITIONS
  DEV_PAIRS DICT_PAIRS MIN_EXAMPLES COS_MIN_EXAMPLES LAREQA_CONTEXT LAREQA_TAU)
fanout() {
  local name=$1 cmd=$2 njobs=$JOBS_MAX
  shift 2
  # count the argument tuples: the product of the ::: lists
  local total=1 cur=0 a
  for a in "$@"; do
    if [ "$a" = ::: ]; then [ $cur -gt 0 ] && total=$((total * cur)); cur=0; else cur=$((cur + 1)); fi
  done
  [ $cur -gt 0 ] && total=$((total * cur))
  [ "$total" -lt "$njobs" ] && njobs=$total
  [ "$njobs" -ge 1 ] || njobs=1
  local threads=$((CORES / njobs))
  [ "$threads" -ge 1 ] || threads=1
  mkdir -p "$WORK/log"
  local ssh=() v jobs=$njobs
  if [ -n "${SSHLOGIN:-}" ]; then
    # N/HOST in SSHLOGIN is parallel's ncpus: with -j 100% it is HOST's job count
    jobs=100%
    ssh=(--sshlogin "$SSHLOGIN" --workdir "$OTCLIR_ROOT"
      --ssh "${PARALLEL_SSH:-ssh} -o ServerAliveInterval=${SSH_ALIVE:-15} -o ServerAliveCountMax=4")
    # the settings, and the CPU levels to pin on mixed hosts (README)
    for v in "${CONFIG_VARS[@]}" OTCLIR_CPU OPENBLAS_CORETYPE; do [ -n "${!v+x}" ] && ssh+=(--env "$v"); done
    threads=${THREADS_REMOTE:-1}
    say "$name: $total jobs on $SSHLOGIN x $threads threads"
  else
    say "$name: $total jobs, $njobs at a time x $threads threads"
  fi
  parallel --halt now,fail=1 --joblog "$WORK/log/$name.joblog" -j "$jobs" --line-buffer \
    "${ssh[@]}" "set -o pipefail; THREADS=$threads $cmd" "$@" || {
    # each failed job with its host (a host that died leaves no stage message)
    awk -F'\t' -v pipe="$PIPE/" -v name="$name" 'NR > 1 && ($7 != 0 || $8 != 0) {
      cmd = $9; for (i = 10; i <= NF; i++) cmd = cmd "\t" $i
      sub(/^set -o pipefail; THREADS=[0-9]+ /, "", cmd)
      while ((i = index(cmd, pipe)) > 0) cmd = substr(cmd, 1, i - 1) substr(cmd, i + length(pipe))
      why = $8 != 0 ? "killed by signal " $8 : "exit " $7
      if ($7 == 255) why = why ": ssh could not reach the host or lost the connection"
      printf "pipelines: %s: \047%s\047 failed on %s (%s)\n", name, cmd, $2 == ":" ? "this machine" : "host " $2, why
    }' "$WORK/log/$name.joblog" >&2 || true
    fail "$name: a job failed (joblog: $WORK/log/$name.joblog)"
  }
}
JOBS_MAX=${JOBS_MAX:-$CORES}

# ---------------------------------------------------------------- filters
# The filters' command lines, in one place (see each program's --help).

# A model is named by its folder (or, for tokenizing only, a vocab.txt):
# tokenize --model DIR reads the folder's vocabulary and its casing
# (tokenizer_config.json's do_lower_case: uncased BERT and ColBERT
# checkpoints are lower-cased). voc [src-|tgt-] X: the tokenize option for X.
voc() {
  local side=
  case ${1:-} in src- | tgt-) side=$1; shift ;; esac
  if [ -d "$1" ]; then printf -- '--%smodel\n%s\n' "$side" "$1"; else printf -- '--%svocab\n%s\n' "$side" "$1"; fi
}
# A ColBERT checkpoint as teacher (TEACHER=DIR with the projection
# linear.weight in model.safetensors): f_embed encodes with ColBERT's
# document encoder (embed --colbert doc: marker, projection, punctuation
# dropped, L2-normalised) for every text it gives the teacher, English or X;
# its vectors score every token (no special ids), so the vector systems rank
# without --skip-special. st_header MODEL: the safetensors JSON header.
st_header() {
  local n
  n=$(od -An -t u8 -N8 "$1/model.safetensors" | tr -d ' ')
  head -c $((8 + n)) "$1/model.safetensors" | tail -c "$n"
}
is_colbert() { [ -f "$1/model.safetensors" ] && st_header "$1" | jq -e 'has("linear.weight")' > /dev/null; }
# skip_specials: the rank option that leaves [CLS]/[SEP] out (none for
# a ColBERT teacher, whose streams score every token)
skip_specials() { is_colbert "$(teacher_dir)" || echo --skip-special; }

# f_prune OUTDIR TEXT_FILE: multilingual BERT's vocabulary restricted to the
# pieces the text (one sentence a line) uses: OUTDIR/vocab.txt, idmap.tsv
# (special tokens kept; the pruned vocabulary tokenizes that text exactly as
# the full one does, other text may get shorter pieces or [UNK]).
f_prune() { tokenize --vocab "$MBERT_VOCAB" --prune-vocab "$1" --line-ids "$2"; }
# f_tok MODEL|VOCAB < id<TAB>text > tokens
f_tok() { local v; mapfile -t v < <(voc "$1"); tokenize "${v[@]}" --max-len "$MAX_LEN"; }
# f_tok_eval MODEL|VOCAB < id<TAB>text > tokens, for evaluation text: EVAL_MAX_LEN
# (long enough that no test sentence is cut; the report counts any that is)
f_tok_eval() { local v; mapfile -t v < <(voc "$1"); tokenize "${v[@]}" --max-len "$EVAL_MAX_LEN"; }
f_tok_eval_pair() {
  local s t
  mapfile -t s < <(voc src- "$1"); mapfile -t t < <(voc tgt- "$2")
  tokenize --pair "${s[@]}" "${t[@]}" --keep-text --max-len "$EVAL_MAX_LEN"
}
# f_tok_pair SRC TGT (models or vocabularies) < id<TAB>x<TAB>english > pair (with the text)
f_tok_pair() {
  local s t
  mapfile -t s < <(voc src- "$1"); mapfile -t t < <(voc tgt- "$2")
  tokenize --pair "${s[@]}" "${t[@]}" --keep-text --max-len "$MAX_LEN"
}
# f_embed MODEL [OPTIONS] < tokens|pair > vectors|pair (a ColBERT
# checkpoint: its document encoder)
f_embed() {
  local m=$1; shift
  if is_colbert "$m"; then set -- --colbert doc "$@"; fi
  embed --model "$m" --threads "$THREADS" "$@"
}
# f_rank DOCS [OPTIONS] < query vectors > run records
# ([CLS]/[SEP] left out: the same vectors in every sentence; ties as score orders them)
f_rank() { local d=$1; shift; rank --docs "$d" --threads "$THREADS" --allow-model-mismatch --ties desc "$@"; }

# model_config VOCAB_SIZE DIM LAYERS [MAX_POSITIONS]: a BERT config.json
# (heads of 64 dims; 512 positions unless given).
model_config() {
  local heads=$(($2 / 64))
  [ "$heads" -ge 1 ] || heads=1
  printf '{"architectures": ["BertModel"], "model_type": "bert", "vocab_size": %d, "hidden_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d, "intermediate_size": %d, "max_position_embeddings": %d, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "initializer_range": 0.02, "pad_token_id": 0}\n' \
    "$1" "$2" "$3" "$heads" $(($2 * 4)) "${4:-512}"
}
teacher_dir() { printf '%s' "${TEACHER:-$WORK/models/teacher}"; }
# model_dim MODEL: the size of the vectors it writes (a ColBERT checkpoint:
# its projection's)
model_dim() {
  if is_colbert "$1"; then st_header "$1" | jq -e '.["linear.weight"].shape[0]' || fail "$1: linear.weight has no shape"
  else jq -e '.hidden_size' "$1/config.json" || fail "$1/config.json: no hidden_size"; fi
}
# seeded_shuf [-n N] [FILE]: the lines shuffled (the first N of the shuffle),
# depending only on SEED and the input: each line gets a key from gawk's
# seeded rand() (gawk ships its own random(), so the keys are the same on
# every machine) and the lines are sorted by key, ties kept in input order.
seeded_shuf() {
  local n=0
  if [ "${1:-}" = -n ]; then n=$2; shift 2; fi
  gawk -v seed="$SEED" 'BEGIN { srand(seed) } { sub(/\r$/, ""); printf "%.17g\t%s\n", rand(), $0 }' "$@" |
    sort -s -t "$(printf '\t')" -k1,1g | cut -f2- | awk -v n="$n" 'n <= 0 || NR <= n' # reads to the end: no SIGPIPE upstream
}
# score_compare_row LANG COND A B < `score --compare` output: one TSV row
# (lang cond A B mean_A mean_B p_t p_rand) for the acc.1 line.
score_compare_row() {
  awk -v pre="$1\t$2\t$3\t$4" '($1 == "acc.1" || $1 == "acc_1") && NF >= 6 { print pre "\t" $2 "\t" $3 "\t" $5 "\t" $6; n++ }
    END { if (!n) { print "score --compare printed no acc.1 line" > "/dev/stderr"; exit 1 } }'
}
# score_rows PREFIX < score output: "PREFIX<TAB>measure<TAB>value" for the
# summary lines, measure names as given to -m (score prints acc.1 as acc_1,
# the trec_eval way of P.5 -> P_5).
score_rows() {
  awk -v pre="$1" '$2 == "all" {
    m = $1
    if (match(m, /_[0-9]+$/)) m = substr(m, 1, RSTART - 1) "." substr(m, RSTART + 1)
    print pre "\t" m "\t" $3 }'
}
# per_language_means FORMAT < `score -q` output: the mean of each measure
# over the queries of each language (a query id is LANG:ID), one line per
# language, FORMAT a printf format with %s for the language and the mean
# appended after a TAB
per_language_means() {
  awk -v fmt="$1" '$2 != "all" { split($2, q, ":"); sum[q[1]] += $3; n[q[1]]++ }
    END { for (l in sum) printf fmt "\t%.4f\n", l, sum[l] / n[l] }' | sort
}
# special_ids VOCAB: the ids of [CLS] and [SEP], comma-separated, ascending
special_ids() {
  awk '$0 == "[CLS]" || $0 == "[SEP]" { printf "%s%d", n++ ? "," : "", NR - 1 } END { if (n != 2) exit 1 }' "$1" ||
    fail "$1 has no [CLS] or [SEP]"
}

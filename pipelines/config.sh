# shellcheck shell=bash
# pipelines/config.sh: the experiment's settings, sourced by lib.sh. Every
# variable can be set in the environment (LANGS="swh deu" pipelines/run).
# QUICK=1 is a smoke subset (about 5 minutes on 2 cores); ALL=1 runs all 41
# XTREME-R Tatoeba languages. Stage parameters reach the make-like checks
# through `stamp`, so changing one reruns exactly the stages it affects.

if [ "${ALL:-0}" = 1 ]; then
  LANGS=${LANGS:-$(awk -F'\t' '!/^#/ && $4 ~ /tatoeba/ { printf "%s ", $1 }' "$LANGS_TSV")}
elif [ "${QUICK:-0}" = 1 ]; then
  LANGS=${LANGS:-"swh deu"}
fi
# 4 low-resource languages of different families (Bantu, Austronesian,
# Dravidian, Kartvelian) and 3 high-resource ones (Germanic, Slavic, Sinitic).
LANGS=${LANGS:-"swh jav tel kat deu rus cmn"}
LAREQA=${LAREQA:-1}                 # 1: also LAReQA on XQuAD-R
# The teacher's vocabulary: the English side of these languages' bitext
# (default all of langs.tsv, so the teacher does not depend on LANGS).
TEACHER_LANGS=${TEACHER_LANGS:-$(awk -F'\t' '!/^#/ { printf "%s ", $1 }' "$LANGS_TSV")}

# Models. TEACHER=DIR / STUDENT_INIT=DIR bring real Hugging Face BERT folders
# (e.g. multilingual BERT): the teacher then encodes English, students start
# from STUDENT_INIT with its own vocabulary (no pruning, no teacher copy).
TEACHER=${TEACHER:-}
STUDENT_INIT=${STUDENT_INIT:-}
MBERT_VOCAB=${MBERT_VOCAB:-$OTCLIR_DATA/vocab/mbert-cased/vocab.txt}
DIM=${DIM:-128}                     # embedded teacher and students
STUDENT_LAYERS=${STUDENT_LAYERS:-0} # the prototype's best: 0 layers (embeddings + LayerNorm)
STUDENT_POSITIONS=${STUDENT_POSITIONS:-4096} # position rows, all zero (LAReQA candidates with their paragraph reach ~2,300 pieces)
MAX_LEN=${MAX_LEN:-64}              # training: ids per side, [CLS] and [SEP] included
EVAL_MAX_LEN=${EVAL_MAX_LEN:-256}   # evaluation text: ids per text (none of the test sets' sentences is cut)
SEED=${SEED:-1}

# Training (distill-step). The prototype: Sinkhorn eps 0.05, AdamW 3e-3.
EPOCHS=${EPOCHS:-3}
MIN_EXAMPLES=${MIN_EXAMPLES:-10000} # OT students on scarce bitext get more epochs: at least this many pairs seen
COS_MIN_EXAMPLES=${COS_MIN_EXAMPLES:-0} # the same for cos (the ablation: more epochs hurt cos on jav)
LR=${LR:-3e-3}
MIN_STEPS=${MIN_STEPS:-100}         # optimizer steps per epoch: batches of pairs/MIN_STEPS pairs
BATCH_TOKENS=${BATCH_TOKENS:-65536} # memory bound only (tokens per batch)
MAX_PAIRS=${MAX_PAIRS:-20000}       # per language, a seeded sample of the bitext
DEV_PAIRS=${DEV_PAIRS:-500}         # held out per language (at most 10% of its sample) for the ablation
DICT_PAIRS=${DICT_PAIRS:-0}         # 1: the language's dictionary entries are training pairs too (the ablation: no gain on dev)
# OT distillation: Sinkhorn eps in cost units (cost 1 - cos in [0, 2]) and the
# marginals: idf = each token's IDF over the training pairs (distill-step
# --idf), uniform = every token the same mass. Chosen by the ablation
# (pipelines/ablation.sh, results/ablation.md) on held-out bitext.
OT_EPS=${OT_EPS:-0.5}
OT_MARGINALS=${OT_MARGINALS:-idf}
ADV_EPS=${ADV_EPS:-0.05}            # embedding-space ball radius (per token, L2; the
                                    # embedded students' rows start at norm ~0.23)
ADV_STEPS=${ADV_STEPS:-3}           # PGD / FreeLB ascent steps
ADV_WEIGHT=${ADV_WEIGHT:-1.0}
WORST_K=${WORST_K:-4}               # discrete: worst of K noisy copies
WOK_TYPO=${WOK_TYPO:-0.3}           # its typo rate per word
WOK_SWITCH=${WOK_SWITCH:-0.2}       # its code-switch rate (languages with a dictionary)
WOK_PARTS=${WOK_PARTS:-2}           # 1 of WOK_PARTS parts of the pairs is made noisy each epoch (2: half; 1: all)

# Systems: bm25 = BM25 over multilingual BERT's word pieces, X as it is;
# dict-bm25 = the same after word-by-word dictionary translation of X;
# lex = the teacher applied to X; dict = word-by-word dictionary
# translation of X, then the teacher; cos = mean-pool distillation (1 - cos);
# ot = OT distillation (OPTICAL); ot-fgsm / ot-pgd / ot-freelb = OT with
# embedding-space adversarial training; ot-wok = OT with discrete worst-of-K
# typo + code-switch augmentation under the current student.
SYSTEMS=${SYSTEMS:-"bm25 dict-bm25 lex dict cos ot ot-fgsm ot-pgd ot-freelb ot-wok"}
# Conditions: clean; typos at word rate R (typoR); dictionary code-switching
# at rate 0.3 (cs); embedding PGD attack on the query at radius R times the
# model's median embedding norm (pgdR).
CONDITIONS=${CONDITIONS:-"clean typo0.1 typo0.3 cs pgd0.1 pgd0.3"}
PGD_STEPS=${PGD_STEPS:-5}
CS_RATE=${CS_RATE:-0.3}
E2X_CONDITIONS=${E2X_CONDITIONS:-clean}  # conditions also scored E->X (all: X->E)

# Retrieval: the prototype's symmetric MaxSim with CSLS k=10 for Tatoeba;
# LAReQA's 13,014-sentence pool is searched with mean-pooled vectors (dense).
RANK_MODE=${RANK_MODE:-maxsim-sym}
CSLS=${CSLS:-10}
TEST_CAP=${TEST_CAP:-0}             # >0: first N Tatoeba test pairs only (smoke tests)
LAREQA_SYSTEMS=${LAREQA_SYSTEMS:-"bm25 dict-bm25 lex cos ot ot-wok"}
LAREQA_CONDITIONS=${LAREQA_CONDITIONS:-"clean typo0.3"}
LAREQA_PAIRS=${LAREQA_PAIRS:-20000} # per language, for the one multilingual LAReQA student (all there is)
LAREQA_CONTEXT=${LAREQA_CONTEXT:-1} # 1: a candidate is its sentence and its paragraph (XTREME-R); 0: the sentence
LAREQA_TAU=${LAREQA_TAU:-0.5}       # soft-bm25 match threshold (rank --match-threshold) for the vector systems
COMPARE=${COMPARE:-"ot-wok:ot ot-pgd:ot ot-fgsm:ot ot-freelb:ot ot:cos ot:lex ot:dict"}  # significance: system B against A

if [ "${QUICK:-0}" = 1 ]; then
  EPOCHS=${QUICK_EPOCHS:-2}
  MAX_PAIRS=${QUICK_MAX_PAIRS:-4000}
  SYSTEMS=${QUICK_SYSTEMS:-"bm25 lex dict cos ot ot-pgd ot-wok"}
  CONDITIONS=${QUICK_CONDITIONS:-"clean typo0.3 pgd0.3"}
  LAREQA_PAIRS=${QUICK_LAREQA_PAIRS:-1000}
  LAREQA_SYSTEMS=${QUICK_LAREQA_SYSTEMS:-"bm25 lex ot"}
  LAREQA_CONDITIONS=clean
fi

export COS_MIN_EXAMPLES MIN_EXAMPLES DEV_PAIRS DICT_PAIRS OT_EPS OT_MARGINALS EVAL_MAX_LEN STUDENT_POSITIONS LANGS LAREQA TEACHER_LANGS TEACHER STUDENT_INIT MBERT_VOCAB DIM STUDENT_LAYERS MAX_LEN SEED EPOCHS LR BATCH_TOKENS MIN_STEPS \
  MAX_PAIRS ADV_EPS ADV_STEPS ADV_WEIGHT WORST_K WOK_TYPO WOK_SWITCH WOK_PARTS SYSTEMS CONDITIONS PGD_STEPS \
  CS_RATE E2X_CONDITIONS RANK_MODE CSLS TEST_CAP LAREQA_SYSTEMS LAREQA_CONDITIONS LAREQA_PAIRS COMPARE

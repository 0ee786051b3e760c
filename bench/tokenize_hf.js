// tokenize_hf.js: the Hugging Face `tokenizers` Rust library (0.22, through the
// napi build @anush008/tokenizers) set up as BERT's tokenizer, the peer of
// bench/tokenize.sh. Reads `id<TAB>text` lines, prints `id<TAB>ids` (or only a
// count with --count) for a cross-check with bin/tokenize.
// Usage: NODE_PATH=DIR node tokenize_hf.js VOCAB FILE [--lower] [--count]
const tk = require("@anush008/tokenizers");
const fs = require("fs");
const [vocabPath, file, ...flags] = process.argv.slice(2);
const lower = flags.includes("--lower"), countOnly = flags.includes("--count");

async function main() {
  const vocab = {};
  fs.readFileSync(vocabPath, "utf8").split("\n").forEach((l, i) => { const t = l.trim(); if (l.length || i) vocab[t] = i; });
  const model = tk.WordPiece.init(vocab, { unkToken: "[UNK]", continuingSubwordPrefix: "##", maxInputCharsPerWord: 200 });
  const tok = new tk.Tokenizer(model);
  tok.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: lower, lowercase: lower }));
  tok.setPreTokenizer(tk.bertPreTokenizer());
  tok.setPostProcessor(tk.bertProcessing(["[SEP]", vocab["[SEP]"]], ["[CLS]", vocab["[CLS]"]]));
  const lines = fs.readFileSync(file, "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const ids = [], texts = [];
  for (const l of lines) { const t = l.indexOf("\t"); ids.push(l.slice(0, t)); texts.push(l.slice(t + 1)); }
  let tokens = 0, out = [];
  const B = 2000;
  const c0 = process.cpuUsage(), w0 = process.hrtime.bigint();
  for (let i = 0; i < texts.length; i += B) {
    const enc = await tok.encodeBatch(texts.slice(i, i + B));
    for (let k = 0; k < enc.length; k++) {
      const e = enc[k].getIds();
      tokens += e.length;
      if (!countOnly) out.push(ids[i + k] + "\t" + e.join(" "));
    }
    if (!countOnly && out.length > 50000) { process.stdout.write(out.join("\n") + "\n"); out = []; }
  }
  const c1 = process.cpuUsage(c0), w1 = process.hrtime.bigint();
  if (!countOnly && out.length) process.stdout.write(out.join("\n") + "\n");
  // the tokenizing loop alone (encodeBatch + getIds), without start-up, file reading, vocabulary set-up
  if (process.env.HF_TIMING_FILE)
    fs.writeFileSync(process.env.HF_TIMING_FILE, `${(c1.user + c1.system) / 1e6} ${Number(w1 - w0) / 1e9}\n`);
  if (countOnly) process.stdout.write(`${texts.length} texts ${tokens} tokens\n`);
}
main();

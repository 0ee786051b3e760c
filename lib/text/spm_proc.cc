// spm_proc.cc: the one C++ file of otclir, a thin shim over Google's
// sentencepiece library (Debian's libsentencepiece-dev) for text/spm.c.
// Nothing else in the tree sees C++: the functions below have C linkage,
// catch every exception and report errors into the caller's buffer. Only
// programs that call the SentencePiece tokenizer pull this object out of
// libotclir.a, so only they link libsentencepiece and libstdc++.
#include "text/spm_proc.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <new>
#include <string>

struct spm_proc {
  sentencepiece::SentencePieceProcessor sp;
};

static void put_err(char *err, size_t errlen, const char *msg) {
  if (err && errlen) std::snprintf(err, errlen, "%s", msg);
}

extern "C" spm_proc *spm_proc_new(const void *buf, size_t len, char *err, size_t errlen) {
  try {
    spm_proc *p = new spm_proc;
    auto st = p->sp.LoadFromSerializedProto(absl::string_view(static_cast<const char *>(buf), len));
    if (!st.ok()) {
      put_err(err, errlen, st.ToString().c_str());
      delete p;
      return nullptr;
    }
    return p;
  } catch (const std::exception &e) {
    put_err(err, errlen, e.what());
  } catch (...) {
    put_err(err, errlen, "unknown C++ exception in the sentencepiece library");
  }
  return nullptr;
}

extern "C" void spm_proc_free(spm_proc *p) { delete p; }

extern "C" int spm_proc_size(const spm_proc *p) { return p->sp.GetPieceSize(); }

extern "C" int spm_proc_encode(const spm_proc *p, const char *text, size_t len, spm_proc_sink sink, void *ctx,
                               char *err, size_t errlen) {
  try {
    sentencepiece::ImmutableSentencePieceText spt;
    auto st = p->sp.Encode(absl::string_view(text, len), spt.mutable_proto());
    if (!st.ok()) {
      put_err(err, errlen, st.ToString().c_str());
      return -1;
    }
    size_t n = spt.pieces_size();
    for (size_t i = 0; i < n; i++) {
      auto piece = spt.pieces(static_cast<int>(i));
      sink(ctx, static_cast<int>(piece.id()), piece.begin(), piece.end());
    }
    return 0;
  } catch (const std::exception &e) {
    put_err(err, errlen, e.what());
  } catch (...) {
    put_err(err, errlen, "unknown C++ exception in the sentencepiece library");
  }
  return -1;
}

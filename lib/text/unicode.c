/* unicode.c: UTF-8, full lowercase, canonical decomposition (see unicode.h). */
#include "text/unicode.h"

#include <string.h>

/* Well-formed UTF-8 (Unicode Table 3-7): the lead byte fixes the length and
 * the allowed range of the second byte; later bytes are 80..BF. */
size_t uc_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, size_t *bad_len) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    v = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F; /* no surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    v = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
  } else {
    *bad_len = 1;
    return 0;
  }
  size_t i = 1;
  for (; i < len; i++) {
    if (i >= n) break;
    unsigned b = s[i];
    if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
    v = v << 6 | (b & 0x3F);
  }
  if (i < len) {
    *bad_len = i; /* the maximal subpart: lead byte plus the valid continuation bytes seen */
    return 0;
  }
  *cp = v;
  return len;
}

size_t uc_utf8_encode(uint32_t cp, unsigned char *out) {
  if (cp < 0x80) {
    out[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (unsigned char)(0xC0 | cp >> 6);
    out[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (unsigned char)(0xE0 | cp >> 12);
    out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (unsigned char)(0xF0 | cp >> 18);
  out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
  out[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t uc_utf8_first_invalid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    uint32_t cp;
    size_t bad;
    size_t k = uc_utf8_decode(s + i, n - i, &cp, &bad);
    if (!k) return i;
    i += k;
  }
  return n;
}

int uc_lower_full(uint32_t cp, uint32_t *out) {
  uint32_t f = uc_flags(cp);
  if (!(f & UC_HAS_LOWER)) {
    out[0] = cp;
    return 1;
  }
  if (f & UC_LOWER_SPECIAL) {
    int lo = 0, hi = UC_NSPECIAL_LOWER - 1;
    while (lo <= hi) {
      int mid = (lo + hi) / 2;
      const uc_special_lower *e = &uc_special_lower_table[mid];
      if (e->cp == cp) {
        for (uint32_t k = 0; k < e->len; k++) out[k] = e->seq[k];
        return (int)e->len;
      }
      if (e->cp < cp) lo = mid + 1;
      else hi = mid - 1;
    }
  }
  out[0] = uc_simple_lower(cp);
  return 1;
}

int uc_lower_sigma_is_final(const uint32_t *s, size_t n, size_t i) {
  /* As CPython's handle_capital_sigma: \p{cased}\p{case-ignorable}* before,
   * and not \p{case-ignorable}*\p{cased} after. */
  size_t j = i;
  uint32_t f = 0;
  int found = 0;
  while (j > 0) {
    f = uc_flags(s[--j]);
    if (!(f & UC_CASE_IGNORABLE)) {
      found = 1;
      break;
    }
  }
  if (!found || !(f & UC_CASED)) return 0;
  for (j = i + 1; j < n; j++) {
    f = uc_flags(s[j]);
    if (!(f & UC_CASE_IGNORABLE)) return !(f & UC_CASED);
  }
  return 1;
}

/* Hangul syllable decomposition constants (Unicode 3.12). */
enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7, LCOUNT = 19, VCOUNT = 21, TCOUNT = 28,
       NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT };

int uc_decompose(uint32_t cp, uint32_t *out) {
  if (cp - SBASE < (uint32_t)SCOUNT) {
    uint32_t s = cp - SBASE;
    out[0] = LBASE + s / NCOUNT;
    out[1] = VBASE + (s % NCOUNT) / TCOUNT;
    if (s % TCOUNT == 0) return 2;
    out[2] = TBASE + s % TCOUNT;
    return 3;
  }
  uint32_t k = cp < 0x110000 ? uc_decomp_index(cp) : 0;
  if (!k) {
    out[0] = cp;
    return 1;
  }
  uint32_t len = uc_decomp_pool[k];
  for (uint32_t i = 0; i < len; i++) out[i] = uc_decomp_pool[k + 1 + i];
  return (int)len;
}

void uc_canonical_order(uint32_t *s, size_t n) {
  /* Runs of non-starters are short: insertion sort is stable and fast. */
  for (size_t i = 1; i < n; i++) {
    uint32_t c = uc_ccc(s[i]);
    if (c == 0) continue;
    size_t j = i;
    uint32_t x = s[i];
    while (j > 0) {
      uint32_t p = uc_ccc(s[j - 1]);
      if (p == 0 || p <= c) break;
      s[j] = s[j - 1];
      j--;
    }
    s[j] = x;
  }
}

size_t uc_utf8_replace(const unsigned char *s, size_t n, unsigned char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t bad, k = s[i] < 0x80 ? 1 : uc_utf8_decode(s + i, n - i, &cp, &bad);
    if (k) {
      memcpy(out + o, s + i, k);
      o += k;
      i += k;
    } else {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i += bad;
    }
  }
  return o;
}

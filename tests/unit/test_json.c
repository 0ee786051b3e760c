/* JSON parser: RFC 8259 edge cases and a real fixture file. */
#include <string.h>

#include "check.h"
#include "base/json.h"

static json_doc *parse(const char *s, char *err) { return json_parse(s, strlen(s), err, 256); }

static int parses(const char *s) {
  char err[256];
  json_doc *d = parse(s, err);
  json_free(d);
  return d != NULL;
}

int main(void) {
  char err[256];
  json_doc *d = parse(" {\"a\": [1, -2.5e3, true, false, null], \"b\": \"x\\u00e9\\ud83d\\ude00\\n\", \"a\": 7} ", err);
  CHECK(d != NULL, "object parses (%s)", d ? "" : err);
  if (d) {
    const json_value *r = json_root(d);
    const json_value *a = json_get(r, "a");
    CHECK(a && a->type == JSON_NUMBER && a->num == 7, "duplicate key: last one wins");
    const json_value *b = json_get(r, "b");
    CHECK(b && b->len == 8 && memcmp(b->text, "x\xc3\xa9\xf0\x9f\x98\x80\n", 8) == 0, "escapes and surrogate pair decode to UTF-8");
    const json_value *arr = r->items[0];
    CHECK(arr->type == JSON_ARRAY && arr->n == 5 && arr->items[1]->num == -2500.0, "array of mixed values");
    CHECK(arr->items[2]->type == JSON_TRUE && arr->items[4]->type == JSON_NULL, "literals");
    json_free(d);
  }
  CHECK(!parses("[1,]"), "trailing comma rejected");
  CHECK(!parses("[01]"), "leading zero rejected");
  CHECK(!parses("\"\\ud800\""), "lone surrogate escape rejected");
  CHECK(!parses("\"\xc0\xaf\""), "overlong UTF-8 rejected");
  CHECK(!parses("\"a\tb\""), "raw control character in string rejected");
  CHECK(!parses("{} x"), "trailing garbage rejected");
  CHECK(!parses("[1.]") && !parses("[.5]") && !parses("[1e]"), "malformed numbers rejected");
  CHECK(!parses("NaN") && !parses("Infinity"), "NaN/Infinity are not JSON");
  d = parse("[[[1]", err);
  CHECK(d == NULL && strstr(err, "byte 5") != NULL, "error names the byte offset (%s)", err);

  char deep[600];
  memset(deep, '[', 300);
  memset(deep + 300, ']', 300);
  deep[600 - 1] = 0;
  deep[599] = ']';
  CHECK(!json_parse(deep, 600, err, sizeof err) && strstr(err, "nesting"), "depth cap");

  d = parse("[0.1, 16777217, 3.4028236e38, 1e-46, 18446744073709551615, -3]", err);
  CHECK(d != NULL, "numbers parse");
  if (d) {
    const json_value *r = json_root(d);
    float f;
    double x;
    unsigned long long u;
    long long i;
    CHECK(json_to_f32(r->items[0], &f) == 0 && f == 0.1f, "f32 from text is correctly rounded");
    CHECK(json_to_f32(r->items[1], &f) == 0 && f == 16777216.0f, "f32 rounds 2^24+1 to even");
    CHECK(json_to_f32(r->items[2], &f) == -1, "f32 overflow is an error");
    CHECK(json_to_f32(r->items[3], &f) == 0 && f == 0.0f, "f32 underflow rounds to zero");
    CHECK(json_to_f64(r->items[0], &x) == 0 && x == 0.1, "f64 from text");
    CHECK(json_to_u64(r->items[4], &u) == 0 && u == 18446744073709551615ULL, "u64 max");
    CHECK(json_to_u64(r->items[5], &u) == -1, "negative is not u64");
    CHECK(json_to_i64(r->items[5], &i) == 0 && i == -3, "i64");
    CHECK(json_to_u64(r->items[0], &u) == -1, "fraction is not an integer");
    json_free(d);
  }

  size_t len;
  char *text = read_file(check_shared("fixtures/embed/model/config.json"), &len);
  CHECK(text != NULL, "read fixture config.json");
  if (text) {
    d = json_parse(text, len, err, sizeof err);
    const json_value *h = d ? json_get(json_root(d), "hidden_size") : NULL;
    CHECK(h && h->num == 64, "fixture config hidden_size = 64");
    json_free(d);
    free(text);
  }
  return check_done();
}

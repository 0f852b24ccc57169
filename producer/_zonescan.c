/*
 * _zonescan: the compiled fast path of producer.zoneparser (wrapped by producer/zonec.py).
 *
 * scan() reads the lines of one block (bytes of whole lines) from a byte offset and stops at the
 * first line it does not take, which the caller reads with the careful path (same state, same
 * order) before calling again. A line is taken only when the careful path would read it the same
 * way, so that the two paths agree on delegations and on every statistic:
 *
 *     OWNER [TTL] [IN] TYPE RDATA...   (TTL and IN in either order, at most once each)
 *
 * made of printable ASCII and blanks (space, tab, CR) without ( ) " \, optionally ending with a
 * ';' comment of ASCII bytes; blank and comment-only lines are skipped. TYPE is NS (exactly one
 * target), DS (three numbers first, at least four fields) or any type of the vocabulary given by
 * setup() (counted and dropped). TTL is decimal digits only, at most 2^31-1. NS/DS owners and NS
 * targets must be plain names that the careful path accepts (no empty label, labels <= 63, name
 * <= 254 characters with its trailing dot), owners strictly below the zone. Everything else
 * (directives, omitted owners, parentheses, quotes, escapes, TTL units, other classes, unknown
 * words, non-ASCII, NUL and control bytes, bad or out-of-zone names, apex records) stops the scan.
 *
 * Consecutive NS/DS records of one owner form a group; a group is closed when another owner's
 * NS/DS record comes, and emitted into the caller's list as a Delegation (NS set sorted and
 * distinct) or, in raw mode, as (name, ns, has_ds, line) for the caller's window. The group left
 * open at the end is handed back to the caller, which may go on with it. A group keeps its first
 * max_ns distinct targets; NS records naming others are counted (ns_cut) and dropped, so that
 * one owner with a million NS lines holds max_ns names, not a million.
 *
 * Safety: the input is a bytes object, whose buffer always ends with a NUL byte; NUL is never a
 * token or blank byte, so every inner loop stops at it at the latest, and the outer loop checks
 * the end. Names are built in fixed buffers only after their length is checked; NS sets grow in
 * heap buffers with overflow checks.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_TEXT 254 /* characters of a name, trailing dot included (255 wire octets) */
#define LABEL_MAX 63
#define TTL_MAX 2147483647LL
#define MAXT 8 /* tokens remembered per line: owner, TTL, class, type, 4 of rdata */
#define PAREN_LINES 32 /* a record in parentheses over more lines or bytes: the careful path's */
#define PAREN_BYTES 4096

#if defined(__SSE2__)
#include <emmintrin.h>
#define HAVE_SIMD 1
#else
#define HAVE_SIMD 0
#endif

enum { C_TOK, C_BLANK, C_NL, C_SEMI, C_OPEN, C_CLOSE, C_ODD };
static unsigned char CLS[256];

enum { K_NONE = 0, K_NS = 1, K_DS = 2, K_OTHER = 3, K_SOA = 4, K_IN = 10, K_CLASS = 11 };
enum { MODE_DIRECT = 0, MODE_DS_ONLY = 1, MODE_RAW = 2 };

/* --- vocabulary: record types and classes, uppercase ----------------------------------------- */

#define VOCAB_SLOTS 1024
#define VOCAB_WORD 16
typedef struct {
    unsigned char len; /* 0: empty slot */
    unsigned char kind;
    char word[VOCAB_WORD];
} VocabEntry;
static VocabEntry vocab[VOCAB_SLOTS];
static Py_ssize_t vocab_count = 0;

static uint32_t
fnv1a(const unsigned char *s, Py_ssize_t n)
{
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 16777619u;
    }
    return h;
}

static int
vocab_lookup(const unsigned char *t, Py_ssize_t n)
{
    unsigned char up[VOCAB_WORD];
    if (n <= 0 || n >= VOCAB_WORD)
        return K_NONE;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = t[i];
        up[i] = (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
    }
    if (n == 2) {
        if (up[0] == 'N' && up[1] == 'S')
            return K_NS;
        if (up[0] == 'D' && up[1] == 'S')
            return K_DS;
    }
    uint32_t h = fnv1a(up, n) & (VOCAB_SLOTS - 1);
    for (int probes = 0; probes < VOCAB_SLOTS; probes++) {
        VocabEntry *e = &vocab[h];
        if (e->len == 0)
            return K_NONE;
        if (e->len == n && memcmp(e->word, up, (size_t)n) == 0)
            return e->kind;
        h = (h + 1) & (VOCAB_SLOTS - 1);
    }
    return K_NONE;
}

/* --- growable buffers ------------------------------------------------------------------------- */

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int
buf_reserve(Buf *b, Py_ssize_t extra)
{
    if (extra < 0 || b->len > PY_SSIZE_T_MAX - extra) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 512;
    while (cap < need) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    char *p = PyMem_Realloc(b->p, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int
buf_append(Buf *b, const void *data, Py_ssize_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->p + b->len, data, (size_t)n);
    b->len += n;
    return 0;
}

typedef struct {
    const char *p;
    Py_ssize_t n;
} Str;

/* equality of two short byte strings, 8 bytes at a time (memcmp is a call) */
static inline int
same_bytes(const char *a, const char *b, Py_ssize_t n)
{
    while (n >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
        a += 8;
        b += 8;
        n -= 8;
    }
    while (n-- > 0) {
        if (*a++ != *b++)
            return 0;
    }
    return 1;
}

/* --- strings ---------------------------------------------------------------------------------- */

static PyObject *
ascii_str(const char *p, Py_ssize_t n)
{
    PyObject *s = PyUnicode_New(n, 127);
    if (s != NULL)
        memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)n);
    return s;
}

static PyObject *
make_str(const char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] >= 0x80)
            return PyUnicode_DecodeUTF8(p, n, "surrogateescape");
    }
    PyObject *s = PyUnicode_New(n, 127);
    if (s == NULL)
        return NULL;
    memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)n);
    return s;
}

/* NS targets repeat (a few hosters serve most domains): one str per distinct recent target. */
#define CACHE_SLOTS 8192
static PyObject *tcache[CACHE_SLOTS];

static uint64_t
load64(const char *p, Py_ssize_t n)
{
    uint64_t w = 0;
    memcpy(&w, p, (size_t)(n < 8 ? n : 8));
    return w;
}

/* a quick hash of a name: its length, first 8 and last 8 bytes */
static uint32_t
name_hash(const char *p, Py_ssize_t n)
{
    uint64_t h = load64(p, n) * 0x9E3779B97F4A7C15ull;
    if (n > 8)
        h ^= load64(p + n - 8, 8) * 0xC2B2AE3D27D4EB4Full;
    h ^= (uint64_t)n * 0x165667B19E3779F9ull;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static PyObject *
cached_str(const char *p, Py_ssize_t n)
{
    uint32_t h = name_hash(p, n) & (CACHE_SLOTS - 1);
    PyObject *s = tcache[h];
    if (s != NULL && PyUnicode_GET_LENGTH(s) == n &&
        same_bytes((const char *)PyUnicode_1BYTE_DATA(s), p, n)) {
        Py_INCREF(s);
        return s;
    }
    s = make_str(p, n);
    if (s != NULL && PyUnicode_IS_COMPACT_ASCII(s)) {
        Py_INCREF(s);
        Py_XSETREF(tcache[h], s);
    }
    return s;
}

/* utf8 of a str, for names handed over by the careful path (canonical: ASCII) */
static const char *
str_utf8(PyObject *o, Py_ssize_t *n)
{
    if (!PyUnicode_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "names must be str");
        return NULL;
    }
    return PyUnicode_AsUTF8AndSize(o, n);
}

/* --- names ------------------------------------------------------------------------------------ */

/*
 * The canonical form of a plain name token (printable ASCII without ( ) " ; \ and blanks), as
 * producer.names.absolute_name makes it: "@" is the origin, lowercase, relative names completed
 * with the origin. Returns the length written to out (NAME_MAX_TEXT + 1 bytes), or -1 when the
 * careful path would refuse the name (or settle it otherwise).
 */
static Py_ssize_t
plain_name(const unsigned char *t, Py_ssize_t tl, const char *origin, Py_ssize_t ol, char *out)
{
    if (tl == 1 && t[0] == '@') {
        memcpy(out, origin, (size_t)ol);
        return ol;
    }
    if (tl == 1 && t[0] == '.') {
        out[0] = '.';
        return 1;
    }
    int absolute = t[tl - 1] == '.';
    Py_ssize_t total;
    if (absolute)
        total = tl;
    else if (ol == 1) /* the root */
        total = tl + 1;
    else
        total = tl + 1 + ol;
    if (tl > NAME_MAX_TEXT || total > NAME_MAX_TEXT)
        return -1;
    /* lowercase; every label of the token 1..63 characters (the origin's are) */
    Py_ssize_t label = 0;
    for (Py_ssize_t i = 0; i < tl; i++) {
        unsigned char c = t[i];
        if (c == '.') {
            if (label == 0)
                return -1;
            label = 0;
        } else if (++label > LABEL_MAX) {
            return -1;
        }
        out[i] = (char)(c + ((unsigned char)(c - 'A') < 26 ? 32 : 0));
    }
    if (!absolute) {
        out[tl] = '.';
        if (ol > 1)
            memcpy(out + tl + 1, origin, (size_t)ol);
    }
    return total;
}

#if HAVE_SIMD
/* plain_name for a token of at most 63 characters, given lowercased with its dots as bits */
static Py_ssize_t
short_name(const char *low, Py_ssize_t tl, uint64_t dots, const char *origin, Py_ssize_t ol,
           char *out)
{
    if (tl == 1 && (low[0] == '@' || low[0] == '.')) {
        if (low[0] == '.') {
            out[0] = '.';
            return 1;
        }
        memcpy(out, origin, (size_t)ol);
        return ol;
    }
    dots &= (1ull << tl) - 1; /* tl < 64 */
    if ((dots & 1) || (dots & (dots >> 1)))
        return -1; /* an empty label */
    int absolute = (dots >> (tl - 1)) & 1;
    Py_ssize_t total = absolute ? tl : (ol == 1 ? tl + 1 : tl + 1 + ol);
    if (total > NAME_MAX_TEXT)
        return -1;
    memcpy(out, low, 64); /* low has 64 readable bytes past the token's start, out room */
    if (!absolute) {
        out[tl] = '.';
        if (ol > 1) {
            if (ol <= 16)
                memcpy(out + tl + 1, origin, 16); /* origin is padded */
            else
                memcpy(out + tl + 1, origin, (size_t)ol);
        }
    }
    return total;
}
#endif

static int
all_digits(const unsigned char *t, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return 0;
    }
    return n > 0;
}

static int
plain_ttl(const unsigned char *t, Py_ssize_t n)
{
    long long v = 0;
    if (!all_digits(t, n))
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        v = v * 10 + (t[i] - '0');
        if (v > TTL_MAX)
            return 0;
    }
    return 1;
}

/* --- groups ----------------------------------------------------------------------------------- */

typedef struct {
    Py_ssize_t off, n;
} Span;

typedef struct {
    int open, has_ds, ascii; /* ascii: the owner was made here (else handed over) */
    long long line;
    Buf owner;
    Buf text;  /* the distinct NS targets, one after the other, in record order */
    Buf spans; /* Span of each target in text */
    Buf sorted; /* Str scratch for sorting */
    Py_ssize_t max_ns; /* targets kept per group: the first distinct ones */
    long long ns_cut;  /* NS records left out because a group had max_ns targets already */
} Group;

typedef struct {
    PyObject *out;
    PyObject *zone;
    int mode;
    long long delegations, ds_only;
} Emitter;

static PyObject *deleg_type = NULL; /* producer.zonetypes.Delegation, a tuple subclass */

static int
str_cmp(const void *a, const void *b)
{
    const Str *x = a, *y = b;
    Py_ssize_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->p, y->p, (size_t)m);
    if (c)
        return c;
    return (x->n > y->n) - (x->n < y->n);
}

static int
group_set(Group *g, const char *name, Py_ssize_t n, long long line)
{
    g->owner.len = 0;
    g->text.len = 0;
    g->spans.len = 0;
    g->has_ds = 0;
    g->line = line;
    g->open = 1;
    g->ascii = 1;
    return buf_append(&g->owner, name, n);
}

/* One NS target into the group: kept when new and the group has room, else counted as cut
 * (a repeat of a kept target is neither). Memory stays within max_ns targets. */
static int
group_add(Group *g, const char *target, Py_ssize_t n)
{
    Py_ssize_t k = g->spans.len / (Py_ssize_t)sizeof(Span);
    const Span *spans = (const Span *)g->spans.p;
    for (Py_ssize_t i = 0; i < k; i++) {
        if (spans[i].n == n && same_bytes(g->text.p + spans[i].off, target, n))
            return 0;
    }
    if (k >= g->max_ns) {
        g->ns_cut++;
        return 0;
    }
    Span s = {g->text.len, n};
    if (buf_append(&g->text, target, n) < 0)
        return -1;
    return buf_append(&g->spans, &s, (Py_ssize_t)sizeof s);
}

static PyObject *
new_delegation(PyObject *name, PyObject *zone, PyObject *ns, int has_ds, long long line)
{
    PyTypeObject *t = (PyTypeObject *)deleg_type;
    PyObject *num = PyLong_FromLongLong(line);
    if (num == NULL)
        return NULL;
    PyObject *d = t->tp_alloc(t, 5);
    if (d == NULL) {
        Py_DECREF(num);
        return NULL;
    }
    Py_INCREF(name);
    Py_INCREF(zone);
    Py_INCREF(ns);
    PyTuple_SET_ITEM(d, 0, name);
    PyTuple_SET_ITEM(d, 1, zone);
    PyTuple_SET_ITEM(d, 2, ns);
    PyTuple_SET_ITEM(d, 3, Py_NewRef(has_ds ? Py_True : Py_False));
    PyTuple_SET_ITEM(d, 4, num);
    PyObject_GC_UnTrack(d); /* holds str, bool, int, a tuple of str: never in a cycle */
    return d;
}

/* Close the open group: emit it (sorted distinct NS set) as the caller's _finish would. */
static int
group_close(Group *g, Emitter *e)
{
    if (!g->open)
        return 0;
    g->open = 0;
    Py_ssize_t k = g->spans.len / (Py_ssize_t)sizeof(Span);
    const Span *spans = (const Span *)g->spans.p;
    g->sorted.len = 0;
    if (buf_reserve(&g->sorted, k * (Py_ssize_t)sizeof(Str)) < 0)
        return -1;
    Str *ns = (Str *)g->sorted.p;
    for (Py_ssize_t i = 0; i < k; i++) {
        ns[i].p = g->text.p + spans[i].off;
        ns[i].n = spans[i].n;
    }
    if (k == 2) {
        if (str_cmp(&ns[0], &ns[1]) > 0) {
            Str tmp = ns[0];
            ns[0] = ns[1];
            ns[1] = tmp;
        }
    } else if (k > 2) {
        qsort(ns, (size_t)k, sizeof(Str), str_cmp);
    }
    Py_ssize_t u = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        if (u == 0 || str_cmp(&ns[u - 1], &ns[i]) != 0)
            ns[u++] = ns[i];
    }
    if (u == 0 && e->mode != MODE_RAW) {
        e->ds_only++;
        if (e->mode != MODE_DS_ONLY)
            return 0;
    }
    PyObject *tup = PyTuple_New(u);
    if (tup == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < u; i++) {
        PyObject *s = cached_str(ns[i].p, ns[i].n);
        if (s == NULL) {
            Py_DECREF(tup);
            return -1;
        }
        PyTuple_SET_ITEM(tup, i, s);
    }
    PyObject_GC_UnTrack(tup);
    PyObject *name = g->ascii ? ascii_str(g->owner.p, g->owner.len)
                              : make_str(g->owner.p, g->owner.len);
    if (name == NULL) {
        Py_DECREF(tup);
        return -1;
    }
    PyObject *item;
    if (e->mode == MODE_RAW)
        item = Py_BuildValue("(OOOL)", name, tup, g->has_ds ? Py_True : Py_False, g->line);
    else
        item = new_delegation(name, e->zone, tup, g->has_ds, g->line);
    Py_DECREF(name);
    Py_DECREF(tup);
    if (item == NULL)
        return -1;
    int rc = PyList_Append(e->out, item);
    Py_DECREF(item);
    if (rc < 0)
        return -1;
    if (e->mode != MODE_RAW)
        e->delegations++;
    return 0;
}

static void
group_free(Group *g)
{
    PyMem_Free(g->owner.p);
    PyMem_Free(g->text.p);
    PyMem_Free(g->spans.p);
    PyMem_Free(g->sorted.p);
}

/* --- the scan --------------------------------------------------------------------------------- */

typedef struct {
    const unsigned char *p;
    Py_ssize_t n;
} Tok;

#if HAVE_SIMD
#define LINE_WINDOW 64
/*
 * The common line, in one go: its first 64 bytes (the caller guarantees they are readable) as
 * bit masks. Returns the offset of its newline when the line is shorter than 64 bytes and made
 * only of token bytes, spaces, tabs and CRs; the tokens are filled in, low holds the bytes
 * lowercased and *dots their dots. Returns -1 otherwise (the general reader takes the line).
 */
static int
simd_line(const unsigned char *p, Tok *tok, int *ntok_out, char *low, uint64_t *dots)
{
    const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), cr = _mm_set1_epi8('\r');
    const __m128i nlc = _mm_set1_epi8('\n'), lo = _mm_set1_epi8(0x20), hi = _mm_set1_epi8(0x7f);
    const __m128i q1 = _mm_set1_epi8('"'), q2 = _mm_set1_epi8('('), q3 = _mm_set1_epi8(')');
    const __m128i q4 = _mm_set1_epi8('\\'), q5 = _mm_set1_epi8(';'), dot = _mm_set1_epi8('.');
    const __m128i ua = _mm_set1_epi8('A' - 1), uz = _mm_set1_epi8('Z' + 1);
    const __m128i bit5 = _mm_set1_epi8(0x20);
    uint64_t B = 0, N = 0, T = 0, D = 0;
    for (int k = 0; k < 4; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * k));
        __m128i blank = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, sp), _mm_cmpeq_epi8(x, tab)),
                                     _mm_cmpeq_epi8(x, cr));
        __m128i odd = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q1), _mm_cmpeq_epi8(x, q2)),
                         _mm_or_si128(_mm_cmpeq_epi8(x, q3), _mm_cmpeq_epi8(x, q4))),
            _mm_cmpeq_epi8(x, q5));
        /* signed compares: bytes >= 0x80 are negative, so never token bytes */
        __m128i printable = _mm_and_si128(_mm_cmpgt_epi8(x, lo), _mm_cmplt_epi8(x, hi));
        __m128i tokb = _mm_andnot_si128(odd, printable);
        __m128i upper = _mm_and_si128(_mm_cmpgt_epi8(x, ua), _mm_cmplt_epi8(x, uz));
        _mm_storeu_si128((__m128i *)(low + 16 * k),
                         _mm_or_si128(x, _mm_and_si128(upper, bit5)));
        int shift = 16 * k;
        B |= (uint64_t)(unsigned)_mm_movemask_epi8(blank) << shift;
        N |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, nlc)) << shift;
        T |= (uint64_t)(unsigned)_mm_movemask_epi8(tokb) << shift;
        D |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, dot)) << shift;
    }
    if (N == 0)
        return -1;
    int nl = __builtin_ctzll(N);
    uint64_t lm = (1ull << nl) - 1; /* nl < 64 */
    if (((T | B) & lm) != lm)
        return -1;
    T &= lm;
    uint64_t starts = T & ~(T << 1), ends = T & ~(T >> 1);
    int ntok = 0;
    while (starts) {
        int a = __builtin_ctzll(starts), b = __builtin_ctzll(ends);
        if (ntok < MAXT) {
            tok[ntok].p = p + a;
            tok[ntok].n = b - a + 1;
        }
        ntok++;
        starts &= starts - 1;
        ends &= ends - 1;
    }
    *ntok_out = ntok;
    *dots = D & lm;
    return nl;
}
#endif

PyDoc_STRVAR(scan_doc,
"scan(block, pos, lineno, origin, zone, cur, cur_ns, cur_ds, cur_line, out, mode, max_ns)\n"
"-> (pos, lineno, records, delegations, ds_only, tok_start, tok_end,\n"
"    cur, cur_ns, cur_ds, cur_line, ns_cut)\n\n"
"Read the simple lines of block from byte pos; stop at the first other line (its offset is\n"
"returned) or at the end. See producer/zonec.py.");

static PyObject *
zs_scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError, "scan() takes 12 arguments");
        return NULL;
    }
    if (deleg_type == NULL || vocab_count == 0) {
        PyErr_SetString(PyExc_RuntimeError, "_zonescan.setup() was not called");
        return NULL;
    }
    PyObject *block = args[0], *origin_o = args[3], *zone_o = args[4], *cur = args[5];
    PyObject *cur_ns = args[6], *out = args[9];
    if (!PyBytes_Check(block) || !PyUnicode_Check(origin_o) || !PyUnicode_Check(zone_o) ||
        !PyList_Check(cur_ns) || !PyList_Check(out) || (cur != Py_None && !PyUnicode_Check(cur))) {
        PyErr_SetString(PyExc_TypeError, "scan(): bad argument types");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    long long lineno = PyLong_AsLongLong(args[2]);
    int cur_ds = PyObject_IsTrue(args[7]);
    long long cur_line = PyLong_AsLongLong(args[8]);
    long mode = PyLong_AsLong(args[10]);
    Py_ssize_t max_ns = PyLong_AsSsize_t(args[11]);
    if (PyErr_Occurred() || cur_ds < 0)
        return NULL;
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(block);
    Py_ssize_t size = PyBytes_GET_SIZE(block);
    if (pos < 0 || pos > size || mode < MODE_DIRECT || mode > MODE_RAW || max_ns < 1) {
        PyErr_SetString(PyExc_ValueError, "scan(): position, mode or max_ns out of range");
        return NULL;
    }
    Py_ssize_t ol, zl;
    const char *origin = str_utf8(origin_o, &ol);
    const char *zone = origin ? str_utf8(zone_o, &zl) : NULL;
    if (zone == NULL)
        return NULL;
    if (ol < 1 || ol > NAME_MAX_TEXT || origin[ol - 1] != '.' || memchr(origin, '\\', (size_t)ol) ||
        zl < 1 || zl > NAME_MAX_TEXT || zone[zl - 1] != '.' || memchr(zone, '\\', (size_t)zl)) {
        PyErr_SetString(PyExc_ValueError, "scan(): origin and zone must be plain absolute names");
        return NULL;
    }
    int zone_root = zl == 1;
    char origin_pad[NAME_MAX_TEXT + 16];
    memset(origin_pad, 0, sizeof origin_pad);
    memcpy(origin_pad, origin, (size_t)ol);
    origin = origin_pad;

    Group g;
    memset(&g, 0, sizeof g);
    g.max_ns = max_ns;
    Emitter e = {out, zone_o, (int)mode, 0, 0};
    PyObject *result = NULL;
    long long records = 0;
    Py_ssize_t tok_start = -1, tok_end = -1;
    int gc_was = PyGC_Disable();

    if (cur != Py_None) {
        Py_ssize_t n;
        const char *s = str_utf8(cur, &n);
        if (s == NULL || group_set(&g, s, n, cur_line) < 0)
            goto done;
        g.has_ds = cur_ds;
        g.ascii = 0;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(cur_ns); i++) {
            s = str_utf8(PyList_GET_ITEM(cur_ns, i), &n);
            if (s == NULL || group_add(&g, s, n) < 0)
                goto done;
        }
    }

    const unsigned char *end = data + size; /* *end == 0: stops every inner loop */
    const unsigned char *p = data + pos;
    char name[NAME_MAX_TEXT + 80], target[NAME_MAX_TEXT + 80]; /* padded for short_name */
    while (p < end) {
        Tok tok[MAXT];
        int ntok = 0, nlines = 1;
        const unsigned char *q = p;
#if HAVE_SIMD
        char low[2 * LINE_WINDOW];
        uint64_t dots = 0;
        int simd = 0;
        if (end - p >= LINE_WINDOW) {
            int nl = simd_line(p, tok, &ntok, low, &dots);
            if (nl >= 0) {
                q = p + nl;
                simd = 1;
            }
        }
        if (!simd)
#endif
        {
            int depth = 0;
            ntok = 0;
            for (;;) {
                unsigned char c = CLS[*q];
                if (c == C_TOK) {
                    const unsigned char *s = q;
                    do
                        q++;
                    while (CLS[*q] == C_TOK);
                    if (ntok < MAXT) {
                        tok[ntok].p = s;
                        tok[ntok].n = q - s;
                    }
                    ntok++;
                } else if (c == C_BLANK) {
                    q++;
                } else if (c == C_NL) {
                    if (depth == 0)
                        break;
                    /* inside parentheses: the record goes on (within the careful limits) */
                    if (++nlines > PAREN_LINES || q - p > PAREN_BYTES)
                        goto stop;
                    q++;
                } else if (c == C_OPEN) {
                    if (++depth > 8)
                        goto stop;
                    q++;
                } else if (c == C_CLOSE) {
                    if (depth == 0)
                        goto stop; /* unbalanced: the careful path reports it */
                    depth--;
                    q++;
                } else if (c == C_SEMI) {
                    /* a comment: ignored by the careful path once the line decodes as UTF-8 */
                    const unsigned char *nl = memchr(q, '\n', (size_t)(end - q));
                    if (nl == NULL)
                        goto stop;
                    for (const unsigned char *r = q; r < nl; r++) {
                        if (*r & 0x80)
                            goto stop;
                    }
                    q = nl;
                } else {
                    goto stop; /* odd byte, or the end of the block (inside parentheses too) */
                }
            }
        }
        /* q is at the line's newline */
        if (ntok > 0) {
            if (CLS[*p] != C_TOK || tok[0].p[0] == '$')
                goto stop; /* omitted owner, directive */
            int lim = ntok < MAXT ? ntok : MAXT;
            int i, kind = K_NONE, seen_ttl = 0, seen_class = 0;
            for (i = 1; i < lim; i++) {
                const Tok *t = &tok[i];
                if (t->p[0] >= '0' && t->p[0] <= '9') {
                    if (seen_ttl || !plain_ttl(t->p, t->n))
                        goto stop;
                    seen_ttl = 1;
                    continue;
                }
                int k = vocab_lookup(t->p, t->n);
                if (k == K_IN) {
                    if (seen_class)
                        goto stop;
                    seen_class = 1;
                    continue;
                }
                if (k == K_NS || k == K_DS || k == K_OTHER || k == K_SOA) {
                    kind = k;
                    break;
                }
                goto stop; /* unknown word, another class */
            }
            if (kind == K_NONE)
                goto stop;
            int nrdata = ntok - i - 1; /* i <= 3 here, so tok[i + 3] is remembered */
            if (kind == K_NS || kind == K_DS) {
                if (kind == K_NS && nrdata != 1)
                    goto stop;
                if (kind == K_DS && (nrdata < 4 || !all_digits(tok[i + 1].p, tok[i + 1].n) ||
                                     !all_digits(tok[i + 2].p, tok[i + 2].n) ||
                                     !all_digits(tok[i + 3].p, tok[i + 3].n)))
                    goto stop;
                Py_ssize_t nl_;
#if HAVE_SIMD
                if (simd && tok[0].n <= LABEL_MAX)
                    nl_ = short_name(low, tok[0].n, dots, origin, ol, name);
                else
#endif
                    nl_ = plain_name(tok[0].p, tok[0].n, origin, ol, name);
                if (nl_ < 0)
                    goto stop;
                /* strictly below the zone, else apex or out-of-zone: the careful path's */
                if (zone_root) {
                    if (nl_ == 1)
                        goto stop;
                } else if (nl_ <= zl || name[nl_ - zl - 1] != '.' ||
                           !same_bytes(name + nl_ - zl, zone, zl)) {
                    goto stop;
                }
                Py_ssize_t tl = 0;
                if (kind == K_NS) {
#if HAVE_SIMD
                    if (simd && tok[i + 1].n <= LABEL_MAX) {
                        Py_ssize_t off = tok[i + 1].p - p;
                        tl = short_name(low + off, tok[i + 1].n, dots >> off, origin, ol, target);
                    } else
#endif
                        tl = plain_name(tok[i + 1].p, tok[i + 1].n, origin, ol, target);
                    if (tl < 0)
                        goto stop;
                }
                if (!g.open || g.owner.len != nl_ || !same_bytes(g.owner.p, name, nl_)) {
                    if (group_close(&g, &e) < 0 || group_set(&g, name, nl_, lineno + 1) < 0)
                        goto done;
                }
                if (kind == K_NS) {
                    if (group_add(&g, target, tl) < 0)
                        goto done;
                } else {
                    g.has_ds = 1;
                }
            }
            records++;
            tok_start = tok[0].p - data;
            tok_end = tok_start + tok[0].n;
        }
        lineno += nlines;
        p = q + 1;
    }
stop:;
    /* hand the open group back */
    PyObject *g_name, *g_ns;
    if (g.open) {
        g_name = make_str(g.owner.p, g.owner.len);
        Py_ssize_t k = g.spans.len / (Py_ssize_t)sizeof(Span);
        g_ns = g_name ? PyList_New(k) : NULL;
        if (g_ns == NULL) {
            Py_XDECREF(g_name);
            goto done;
        }
        const Span *spans = (const Span *)g.spans.p;
        for (Py_ssize_t i = 0; i < k; i++) {
            PyObject *s = cached_str(g.text.p + spans[i].off, spans[i].n);
            if (s == NULL) {
                Py_DECREF(g_name);
                Py_DECREF(g_ns);
                goto done;
            }
            PyList_SET_ITEM(g_ns, i, s);
        }
    } else {
        g_name = Py_NewRef(Py_None);
        g_ns = PyList_New(0);
        if (g_ns == NULL) {
            Py_DECREF(g_name);
            goto done;
        }
    }
    result = Py_BuildValue("(nLLLLnnNNOLL)", (Py_ssize_t)(p - data), lineno, records,
                           e.delegations, e.ds_only, tok_start, tok_end, g_name, g_ns,
                           (g.open && g.has_ds) ? Py_True : Py_False, g.open ? g.line : 0LL,
                           g.ns_cut);
done:
    group_free(&g);
    if (gc_was)
        PyGC_Enable();
    return result;
}

PyDoc_STRVAR(setup_doc,
"setup(vocabulary, delegation_type)\n\n"
"vocabulary maps uppercase type and class words to their kind (producer.zonesyntax.VOCAB);\n"
"delegation_type is the tuple subclass to build (producer.zonetypes.Delegation).");

static PyObject *
zs_setup(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *mapping, *dtype;
    if (!PyArg_ParseTuple(args, "O!O!", &PyDict_Type, &mapping, &PyType_Type, &dtype))
        return NULL;
    PyTypeObject *t = (PyTypeObject *)dtype;
    if (!PyType_IsSubtype(t, &PyTuple_Type) || t->tp_basicsize != PyTuple_Type.tp_basicsize ||
        t->tp_itemsize != PyTuple_Type.tp_itemsize) {
        PyErr_SetString(PyExc_TypeError, "delegation_type must be a plain tuple subclass");
        return NULL;
    }
    memset(vocab, 0, sizeof vocab);
    vocab_count = 0;
    PyObject *key, *value;
    Py_ssize_t it = 0;
    while (PyDict_Next(mapping, &it, &key, &value)) {
        Py_ssize_t n;
        const char *w = str_utf8(key, &n);
        if (w == NULL)
            return NULL;
        long kind = PyLong_AsLong(value);
        if (kind == -1 && PyErr_Occurred())
            return NULL;
        if (n <= 0 || n >= VOCAB_WORD || kind < 0 || kind > 255)
            continue; /* left to the careful path */
        if (vocab_count >= VOCAB_SLOTS / 2) {
            PyErr_SetString(PyExc_ValueError, "vocabulary too large");
            return NULL;
        }
        uint32_t h = fnv1a((const unsigned char *)w, n) & (VOCAB_SLOTS - 1);
        while (vocab[h].len != 0)
            h = (h + 1) & (VOCAB_SLOTS - 1);
        vocab[h].len = (unsigned char)n;
        vocab[h].kind = (unsigned char)kind;
        memcpy(vocab[h].word, w, (size_t)n);
        vocab_count++;
    }
    Py_INCREF(dtype);
    Py_XSETREF(deleg_type, dtype);
    Py_RETURN_NONE;
}

static PyMethodDef zs_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))zs_scan, METH_FASTCALL, scan_doc},
    {"setup", zs_setup, METH_VARARGS, setup_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef zs_module = {
    PyModuleDef_HEAD_INIT, "_zonescan", "Compiled fast path of producer.zoneparser.", -1,
    zs_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__zonescan(void)
{
    for (int c = 0; c < 256; c++)
        CLS[c] = C_ODD;
    for (int c = 0x21; c < 0x7f; c++)
        CLS[c] = C_TOK;
    CLS['"'] = CLS['\\'] = C_ODD;
    CLS['('] = C_OPEN;
    CLS[')'] = C_CLOSE;
    CLS[';'] = C_SEMI;
    CLS[' '] = CLS['\t'] = CLS['\r'] = C_BLANK;
    CLS['\n'] = C_NL;
    return PyModule_Create(&zs_module);
}

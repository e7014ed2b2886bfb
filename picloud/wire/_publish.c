/* The C twin of picloud/wire/scan.py: a publish frame's parts without
 * building its Python objects.
 *
 * scan(text) takes what a publisher sent (str or bytes) and returns
 * (event, data, retain, id) where data is the JSON text of "data" exactly as
 * the hub would encode it (wire/codec.py dumps), or None. None means "not
 * the common case": the caller then parses the frame the ordinary way, which
 * also finds and words any error. So this takes only documents it can
 * answer for byte for byte: one object, plain event names, data already in
 * the compact form ujson writes (no whitespace, no escapes, no duplicate
 * keys, numbers that read back to the same text), and no value ujson could
 * refuse. Everything else is None; tests/wire/test_scan.py compares it with
 * the Python path on generated documents.
 *
 * Plain C99 and the CPython API: no unaligned loads, nothing that depends
 * on the byte order or the word size (it builds for Raspberry Pi OS's armv7
 * and aarch64 with gcc alone).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 32
#define MAX_EVENT_BYTES 256
#define MAX_ID_CHARS 128
#define MAX_KEYS 16      /* per object of data, for the duplicate check */
#define MAX_INT_DIGITS 18
#define MAX_FLOAT_DIGITS 15

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} Cursor;

static void skip_ws(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* A string from its opening quote. *plain: no escapes (the text between the
 * quotes is the value's UTF-8). Returns 0 for what is not a JSON string
 * this scanner accepts. */
#define BYTES_OF(byte) (UINT64_C(0x0101010101010101) * (byte))
#define HIGH_BITS UINT64_C(0x8080808080808080)

/* Whether any of the 8 bytes of word is a quote, a backslash or below 0x20
 * (the exact tests for a zero byte and for a byte below n <= 0x80, on the
 * word however memcpy laid it out: only whether, not where). */
static int special_in(uint64_t word) {
    uint64_t quote = word ^ BYTES_OF('"'), backslash = word ^ BYTES_OF('\\');
    return (((quote - BYTES_OF(1)) & ~quote) | ((backslash - BYTES_OF(1)) & ~backslash) |
            ((word - BYTES_OF(0x20)) & ~word)) & HIGH_BITS ? 1 : 0;
}

static int scan_string(Cursor *c, int *plain) {
    const unsigned char *p = c->p + 1, *end = c->end;
    *plain = 1;
    while (p < end) {
        const unsigned char *limit;
        unsigned char ch;
        uint64_t word;
        /* Eight plain bytes at a time; the word with a special byte in it is
         * then looked at byte by byte, and only that word. */
        while (end - p >= 8) {
            memcpy(&word, p, 8);
            if (special_in(word))
                break;
            p += 8;
        }
        limit = end - p >= 8 ? p + 8 : end;
        while (p < limit && *p != '"' && *p >= 0x20 && *p != '\\')
            p++;
        if (p >= end)
            break;
        if (p == limit)
            continue; /* not reached: special_in is exact */
        ch = *p;
        if (ch == '"') {
            c->p = p + 1;
            return 1;
        }
        if (ch < 0x20)
            return 0;
        /* A backslash. */
        *plain = 0;
        if (p + 1 >= end)
            return 0;
        ch = p[1];
        if (ch == 'u') {
            int k;
            if (p + 6 > end)
                return 0;
            for (k = 2; k < 6; k++) {
                unsigned char h = p[k];
                if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                    return 0;
            }
            p += 6;
            continue;
        }
        if (!strchr("\"\\/bfnrt", ch) || ch == 0)
            return 0;
        p += 2;
    }
    return 0;
}

/* A number, accepted only without an exponent and with few enough digits
 * that ujson reads it without loss. *canonical: ujson writes it back as the
 * same text. */
static int scan_number(Cursor *c, int *canonical) {
    const unsigned char *p = c->p, *end = c->end, *start;
    /* Counts as wide as the text: a number of 2^31 digits must not wrap
     * into one that looks short. */
    Py_ssize_t int_digits = 0, frac_digits = 0, lead_zeros = 0;
    int negative = 0, int_zero, frac_last_zero = 0;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    start = p;
    if (p >= end || *p < '0' || *p > '9')
        return 0;
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            return 0; /* a leading zero */
    } else {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    int_digits = p - start;
    int_zero = (int_digits == 1 && *start == '0');
    if (p < end && *p == '.') {
        const unsigned char *frac = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        frac_digits = p - frac;
        if (frac_digits == 0)
            return 0;
        frac_last_zero = p[-1] == '0';
        if (int_zero) {
            while (lead_zeros < frac_digits && frac[lead_zeros] == '0')
                lead_zeros++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E'))
        return 0;
    if (int_digits + frac_digits > MAX_INT_DIGITS)
        return 0;
    if (frac_digits == 0) {
        *canonical = !(negative && int_zero); /* -0 reads back as 0 */
    } else {
        Py_ssize_t significant = int_zero ? frac_digits - lead_zeros : int_digits + frac_digits;
        int only_zero = frac_digits == 1 && frac_last_zero; /* 1.0, written so */
        *canonical = significant <= MAX_FLOAT_DIGITS && (only_zero || !frac_last_zero)
                     && int_digits <= MAX_FLOAT_DIGITS
                     && (!int_zero || only_zero || lead_zeros <= 3); /* from 1e-5 on, exponents */
        if (int_zero && only_zero && negative)
            *canonical = 1; /* -0.0 is written -0.0 */
    }
    c->p = p;
    return 1;
}

static int scan_value(Cursor *c, int depth, int *canonical);

static int same_key(const unsigned char *a, Py_ssize_t alen, const unsigned char *b, Py_ssize_t blen) {
    return alen == blen && memcmp(a, b, (size_t)alen) == 0;
}

/* An object or array from its opening bracket. */
static int scan_container(Cursor *c, int depth, int *canonical) {
    const unsigned char *keys[MAX_KEYS];
    Py_ssize_t lengths[MAX_KEYS];
    int count = 0, is_object = *c->p == '{';
    unsigned char close = is_object ? '}' : ']';
    if (depth >= MAX_DEPTH)
        return 0;
    c->p++;
    if (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        *canonical = 0;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        if (is_object) {
            const unsigned char *key;
            int plain, i;
            if (c->p >= c->end || *c->p != '"')
                return 0;
            key = c->p + 1;
            if (!scan_string(c, &plain))
                return 0;
            if (!plain) {
                *canonical = 0;
            } else if (*canonical) {
                Py_ssize_t length = (Py_ssize_t)(c->p - 1 - key);
                if (count == MAX_KEYS) {
                    *canonical = 0;
                } else {
                    for (i = 0; i < count; i++) {
                        if (same_key(keys[i], lengths[i], key, length))
                            *canonical = 0; /* the last one wins: not written as sent */
                    }
                    keys[count] = key;
                    lengths[count++] = length;
                }
            }
            if (c->p < c->end && *c->p != ':')
                *canonical = 0;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':')
                return 0;
            c->p++;
            if (c->p < c->end && *c->p != '"' && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
                *canonical = 0;
            skip_ws(c);
        }
        if (!scan_value(c, depth + 1, canonical))
            return 0;
        if (c->p < c->end && *c->p != ',' && *c->p != close)
            *canonical = 0;
        skip_ws(c);
        if (c->p >= c->end)
            return 0;
        if (*c->p == close) {
            c->p++;
            return 1;
        }
        if (*c->p != ',')
            return 0;
        c->p++;
        if (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
            *canonical = 0;
        skip_ws(c);
    }
}

static int literal(Cursor *c, const char *word, Py_ssize_t length) {
    if (c->end - c->p < length || memcmp(c->p, word, (size_t)length) != 0)
        return 0;
    c->p += length;
    return 1;
}

/* Any value; *canonical is cleared where ujson would write it otherwise. */
static int scan_value(Cursor *c, int depth, int *canonical) {
    int plain;
    if (c->p >= c->end)
        return 0;
    switch (*c->p) {
    case '"':
        if (!scan_string(c, &plain))
            return 0;
        if (!plain)
            *canonical = 0;
        return 1;
    case '{':
    case '[':
        return scan_container(c, depth, canonical);
    case 't':
        return literal(c, "true", 4);
    case 'f':
        return literal(c, "false", 5);
    case 'n':
        return literal(c, "null", 4);
    default: {
        int number_canonical = 1;
        if (!scan_number(c, &number_canonical))
            return 0;
        if (!number_canonical)
            *canonical = 0;
        return 1;
    }
    }
}

/* An event name the hub takes as it is: what validate_event accepts and
 * check_publishable has nothing to say about. */
static int plain_event(const unsigned char *s, Py_ssize_t length) {
    Py_ssize_t i;
    if (length < 1 || length > MAX_EVENT_BYTES || s[0] == '$')
        return 0;
    for (i = 0; i < length; i++) {
        unsigned char ch = s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '+' || ch == '#')
            return 0;
        if (ch == 0xc2 && i + 1 < length && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
            return 0; /* C1 controls */
    }
    return 1;
}

enum { KEY_OTHER, KEY_EVENT, KEY_DATA, KEY_ACTION, KEY_RETAIN, KEY_ID };

static int key_of(const unsigned char *s, Py_ssize_t length) {
    if (length == 5 && memcmp(s, "event", 5) == 0)
        return KEY_EVENT;
    if (length == 4 && memcmp(s, "data", 4) == 0)
        return KEY_DATA;
    if (length == 6 && memcmp(s, "action", 6) == 0)
        return KEY_ACTION;
    if (length == 6 && memcmp(s, "retain", 6) == 0)
        return KEY_RETAIN;
    if (length == 2 && memcmp(s, "id", 2) == 0)
        return KEY_ID;
    return KEY_OTHER;
}

/* The last event name decoded, and its UTF-8: a device publishes to the same
 * few events, and one str object for all of a run's messages keeps its hash
 * computed once for every dict the hub looks it up in. */
static PyObject *last_event;
static char last_event_utf8[MAX_EVENT_BYTES];
static Py_ssize_t last_event_len = -1;

static PyObject *event_of(const unsigned char *event, Py_ssize_t length) {
    PyObject *decoded;
    if (length == last_event_len && memcmp(event, last_event_utf8, (size_t)length) == 0) {
        Py_INCREF(last_event);
        return last_event;
    }
    decoded = PyUnicode_DecodeUTF8((const char *)event, length, "strict");
    if (decoded == NULL)
        return NULL;
    if (length <= MAX_EVENT_BYTES) {
        Py_XSETREF(last_event, decoded);
        Py_INCREF(decoded);
        memcpy(last_event_utf8, event, (size_t)length);
        last_event_len = length;
    }
    return decoded;
}

/* scan, or with heads (a dict: event -> publish_head) and end (created_at_end)
 * scan_publish: the whole publish frame in place of data, and clears. */
static PyObject *scan_parts(PyObject *text, PyObject *heads, PyObject *end) {
    const char *buffer;
    Py_ssize_t size, i;
    Cursor c;
    const unsigned char *event = NULL, *data = NULL, *id = NULL;
    Py_ssize_t event_len = 0, data_len = 0, id_len = 0;
    int retain = 0, seen = 0, id_is_string = 0;
    PyObject *event_obj, *data_obj, *id_obj, *result;

    if (PyUnicode_Check(text)) {
        buffer = PyUnicode_AsUTF8AndSize(text, &size);
        if (buffer == NULL) { /* a lone surrogate: the ordinary path says so */
            PyErr_Clear();
            Py_RETURN_NONE;
        }
    } else if (PyBytes_Check(text)) {
        buffer = PyBytes_AS_STRING(text);
        size = PyBytes_GET_SIZE(text);
        for (i = 0; i < size; i++) {
            if ((unsigned char)buffer[i] >= 0x80) /* UTF-8 unchecked here: left to ujson */
                Py_RETURN_NONE;
        }
    } else {
        PyErr_Format(PyExc_TypeError, "scan() takes str or bytes, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    c.p = (const unsigned char *)buffer;
    c.end = c.p + size;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{')
        Py_RETURN_NONE;
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}')
        Py_RETURN_NONE; /* no event */
    for (;;) {
        const unsigned char *key, *value;
        int plain, kind, canonical = 1;
        if (c.p >= c.end || *c.p != '"')
            Py_RETURN_NONE;
        key = c.p + 1;
        if (!scan_string(&c, &plain))
            Py_RETURN_NONE;
        kind = plain ? key_of(key, (Py_ssize_t)(c.p - 1 - key)) : KEY_OTHER;
        if (!plain) /* an escaped key could spell a known one */
            Py_RETURN_NONE;
        if (kind != KEY_OTHER) {
            if (seen & (1 << kind))
                Py_RETURN_NONE; /* a repeated key: the last one wins there */
            seen |= 1 << kind;
        }
        skip_ws(&c);
        if (c.p >= c.end || *c.p != ':')
            Py_RETURN_NONE;
        c.p++;
        skip_ws(&c);
        value = c.p;
        if (!scan_value(&c, 1, &canonical))
            Py_RETURN_NONE;
        switch (kind) {
        case KEY_EVENT:
            if (*value != '"' || !canonical)
                Py_RETURN_NONE;
            event = value + 1;
            event_len = (Py_ssize_t)(c.p - 1 - event);
            if (!plain_event(event, event_len))
                Py_RETURN_NONE;
            break;
        case KEY_DATA:
            if (!canonical)
                Py_RETURN_NONE;
            data = value;
            data_len = (Py_ssize_t)(c.p - value);
            break;
        case KEY_ACTION:
            if (c.p - value != 9 || memcmp(value, "\"publish\"", 9) != 0)
                Py_RETURN_NONE;
            break;
        case KEY_RETAIN:
            if (c.p - value == 4 && memcmp(value, "true", 4) == 0)
                retain = 1;
            else if (!(c.p - value == 5 && memcmp(value, "false", 5) == 0))
                Py_RETURN_NONE;
            break;
        case KEY_ID:
            if (c.p - value == 4 && memcmp(value, "null", 4) == 0)
                break;
            if (*value == '"') {
                Py_ssize_t k;
                if (!canonical || c.p - value - 2 > MAX_ID_CHARS)
                    Py_RETURN_NONE;
                for (k = 1; k < c.p - value - 1; k++) {
                    if (value[k] >= 0x80)
                        Py_RETURN_NONE; /* counted in characters there */
                }
                id_is_string = 1;
                id = value + 1;
                id_len = (Py_ssize_t)(c.p - value - 2);
            } else if (*value == '-' || (*value >= '0' && *value <= '9')) {
                Py_ssize_t k;
                if (!canonical)
                    Py_RETURN_NONE;
                for (k = 0; k < c.p - value; k++) {
                    if (value[k] == '.')
                        Py_RETURN_NONE;
                }
                id = value;
                id_len = (Py_ssize_t)(c.p - value);
            } else {
                Py_RETURN_NONE;
            }
            break;
        default:
            break;
        }
        skip_ws(&c);
        if (c.p >= c.end)
            Py_RETURN_NONE;
        if (*c.p == '}') {
            c.p++;
            break;
        }
        if (*c.p != ',')
            Py_RETURN_NONE;
        c.p++;
        skip_ws(&c);
    }
    skip_ws(&c);
    if (c.p != c.end || event == NULL)
        Py_RETURN_NONE;

    event_obj = event_of(event, event_len);
    if (event_obj == NULL)
        return NULL;
    if (data == NULL) {
        data = (const unsigned char *)"null";
        data_len = 4;
    }
    if (heads == NULL) {
        data_obj = PyBytes_FromStringAndSize((const char *)data, data_len);
    } else {
        PyObject *head = PyDict_GetItemWithError(heads, event_obj); /* borrowed */
        if (head == NULL || !PyBytes_Check(head)) {
            Py_DECREF(event_obj);
            if (head == NULL && PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE; /* not cached yet: the ordinary path makes and keeps it */
        }
        data_obj = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(head) + data_len + PyBytes_GET_SIZE(end));
        if (data_obj != NULL) {
            char *out = PyBytes_AS_STRING(data_obj);
            memcpy(out, PyBytes_AS_STRING(head), (size_t)PyBytes_GET_SIZE(head));
            out += PyBytes_GET_SIZE(head);
            memcpy(out, data, (size_t)data_len);
            memcpy(out + data_len, PyBytes_AS_STRING(end), (size_t)PyBytes_GET_SIZE(end));
        }
    }
    if (data_obj == NULL) {
        Py_DECREF(event_obj);
        return NULL;
    }
    if (id == NULL) {
        id_obj = Py_None;
        Py_INCREF(id_obj);
    } else if (id_is_string) {
        id_obj = PyUnicode_DecodeASCII((const char *)id, id_len, "strict");
    } else {
        char digits[MAX_INT_DIGITS + 2];
        if (id_len > MAX_INT_DIGITS + 1) { /* scan_number lets no longer one through */
            Py_DECREF(event_obj);
            Py_DECREF(data_obj);
            Py_RETURN_NONE;
        }
        memcpy(digits, id, (size_t)id_len);
        digits[id_len] = '\0';
        id_obj = PyLong_FromString(digits, NULL, 10);
    }
    if (id_obj == NULL) {
        Py_DECREF(event_obj);
        Py_DECREF(data_obj);
        return NULL;
    }
    if (heads == NULL) {
        result = PyTuple_Pack(4, event_obj, data_obj, retain ? Py_True : Py_False, id_obj);
    } else {
        int clears = retain && data_len == 4 && memcmp(data, "null", 4) == 0;
        result = PyTuple_Pack(5, event_obj, data_obj, retain ? Py_True : Py_False, id_obj,
                              clears ? Py_True : Py_False);
    }
    Py_DECREF(event_obj);
    Py_DECREF(data_obj);
    Py_DECREF(id_obj);
    return result;
}


static PyObject *scan(PyObject *module, PyObject *text) {
    (void)module;
    return scan_parts(text, NULL, NULL);
}

/* METH_FASTCALL, the arguments checked by hand: PyArg_ParseTuple would cost
 * a third of the scan of a short frame. */
static PyObject *scan_publish(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "scan_publish() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyDict_Check(args[1]) || !PyBytes_Check(args[2])) {
        PyErr_Format(PyExc_TypeError, "scan_publish() takes a dict and bytes, not %.50s and %.50s",
                     Py_TYPE(args[1])->tp_name, Py_TYPE(args[2])->tp_name);
        return NULL;
    }
    return scan_parts(args[0], args[1], args[2]);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_O,
     "scan(text) -> (event, data, retain, id) or None: a publish frame's parts, data as the hub "
     "encodes it; None where the ordinary parse must decide."},
    {"scan_publish", (PyCFunction)(void (*)(void))scan_publish, METH_FASTCALL,
     "scan_publish(text, heads, end) -> (event, frame, retain, id, clears) or None: scan, with the publish "
     "frame made of heads[event], data and end; None also where heads has no such event."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "picloud.wire._publish", "The C twin of picloud/wire/scan.py.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__publish(void) {
    return PyModule_Create(&module);
}

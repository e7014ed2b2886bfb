/* The C twins of the hub's work on each message it accepts, beside the
 * Python they stand in for and are tested against:
 *
 *   stamp_run   picloud/wire/stamp.py stamp_run_python (tests/wire/test_stamp.py)
 *   no_numbers  picloud/wire/framefields.py no_numbers_python (test_framefields.py)
 *   like        picloud/hub/message.py like_python (tests/hub/test_message.py)
 *
 * They read and write a Message's slots in place (_slots.h). Plain C99 and the
 * CPython API: no unaligned loads, nothing that depends on the byte order or
 * the word size (armv7 and aarch64 with gcc alone).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <string.h>

#include "_slots.h"

/* stamp_run(messages, seq, tail, start) -> (starts, end): the C twin of
 * picloud/wire/stamp.py stamp_run_python. Each message's payload (a publish
 * frame, bytes) gets ,"seq":N and tail spliced in for its closing brace, N
 * counting on from seq; its seq attribute is set to N. Returns where each
 * new payload starts and where the last ends, laid end to end from start. */
static Slot payload_slot, seq_slot;

/* The decimal digits of value into out (room for 21), as %lld writes them;
 * returns how many. */
static int decimal(char *out, long long value) {
    char reversed[20];
    unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    int count = 0, length = 0;
    do {
        reversed[count++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        out[length++] = '-';
    while (count)
        out[length++] = reversed[--count];
    return length;
}

static PyObject *stamp_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *messages, *tail, *fast, *starts = NULL, *result;
    long long seq;
    Py_ssize_t count, i, tail_len;
    long long offset;
    (void)self;
    if (nargs != 4 || !PyLong_Check(args[1]) || !PyBytes_Check(args[2]) || !PyLong_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "stamp_run() takes messages, a seq, a tail of bytes and a start");
        return NULL;
    }
    messages = args[0];
    tail = args[2];
    seq = PyLong_AsLongLong(args[1]);
    if (seq == -1 && PyErr_Occurred())
        return NULL;
    offset = PyLong_AsLongLong(args[3]); /* 64 bits on armv7 too: an event's offsets only grow */
    if (offset == -1 && PyErr_Occurred())
        return NULL;
    /* A tuple of its own: a property the attribute protocol runs may change the list. */
    fast = PySequence_Tuple(messages);
    if (fast == NULL)
        return NULL;
    count = PyTuple_GET_SIZE(fast);
    starts = PyList_New(count);
    if (starts == NULL)
        goto fail;
    tail_len = PyBytes_GET_SIZE(tail);
    for (i = 0; i < count; i++) {
        PyObject *message = PyTuple_GET_ITEM(fast, i);
        PyObject *payload, *stamped, *number, *at;
        char digits[21];
        Py_ssize_t head_len, length;
        int digits_len;
        char *out;
        if (seq == LLONG_MAX) {
            PyErr_SetString(PyExc_OverflowError, "seq past the largest 64-bit integer");
            goto fail;
        }
        seq++;
        slot_find(&payload_slot, Py_TYPE(message));
        slot_find(&seq_slot, Py_TYPE(message));
        payload = slot_get(&payload_slot, message);
        if (payload == NULL)
            goto fail;
        if (!PyBytes_Check(payload)) {
            PyErr_Format(PyExc_TypeError, "payload must be bytes, not %.50s", Py_TYPE(payload)->tp_name);
            Py_DECREF(payload);
            goto fail;
        }
        head_len = PyBytes_GET_SIZE(payload);
        if (head_len > 0)
            head_len--; /* the closing brace, as payload[:-1] drops it */
        digits_len = decimal(digits, seq);
        length = head_len + 7 + digits_len + tail_len;
        if (offset > LLONG_MAX - length) {
            PyErr_SetString(PyExc_OverflowError, "offset past the largest size");
            Py_DECREF(payload);
            goto fail;
        }
        stamped = PyBytes_FromStringAndSize(NULL, length);
        if (stamped == NULL) {
            Py_DECREF(payload);
            goto fail;
        }
        out = PyBytes_AS_STRING(stamped);
        memcpy(out, PyBytes_AS_STRING(payload), (size_t)head_len);
        memcpy(out + head_len, ",\"seq\":", 7);
        memcpy(out + head_len + 7, digits, (size_t)digits_len);
        memcpy(out + head_len + 7 + digits_len, PyBytes_AS_STRING(tail), (size_t)tail_len);
        Py_DECREF(payload);
        number = PyLong_FromLongLong(seq);
        if (number == NULL || slot_set(&seq_slot, message, number) < 0 ||
            slot_set(&payload_slot, message, stamped) < 0) {
            Py_XDECREF(number);
            Py_DECREF(stamped);
            goto fail;
        }
        Py_DECREF(number);
        Py_DECREF(stamped);
        at = PyLong_FromLongLong(offset);
        if (at == NULL)
            goto fail;
        PyList_SET_ITEM(starts, i, at);
        offset += length;
    }
    Py_DECREF(fast);
    result = Py_BuildValue("(NL)", starts, offset);
    return result;
fail:
    Py_DECREF(fast);
    Py_XDECREF(starts);
    return NULL;
}

/* no_numbers(frames, head) -> bool: the C twin of picloud/wire/framefields.py
 * no_numbers_python. Whether every frame starts with head and its data (what
 * follows head) starts as a string, a list or null do. */
static PyObject *no_numbers(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *frames, *head, *fast;
    Py_ssize_t count, i, skip;
    const char *head_bytes;
    (void)self;
    if (nargs != 2 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "no_numbers() takes frames and a head of bytes");
        return NULL;
    }
    frames = args[0];
    head = args[1];
    fast = PySequence_Fast(frames, "frames must be a sequence");
    if (fast == NULL)
        return NULL;
    count = PySequence_Fast_GET_SIZE(fast);
    skip = PyBytes_GET_SIZE(head);
    head_bytes = PyBytes_AS_STRING(head);
    for (i = 0; i < count; i++) {
        PyObject *frame = PySequence_Fast_GET_ITEM(fast, i);
        const char *bytes;
        char first;
        if (!PyBytes_Check(frame)) {
            PyErr_Format(PyExc_TypeError, "frame must be bytes, not %.50s", Py_TYPE(frame)->tp_name);
            Py_DECREF(fast);
            return NULL;
        }
        bytes = PyBytes_AS_STRING(frame);
        if (PyBytes_GET_SIZE(frame) <= skip || memcmp(bytes, head_bytes, (size_t)skip) != 0)
            break;
        first = bytes[skip];
        if (first != '"' && first != '[' && first != 'n')
            break;
    }
    Py_DECREF(fast);
    if (i < count)
        Py_RETURN_FALSE;
    Py_RETURN_TRUE;
}

/* like(prototype, event, payload): the C twin of picloud/hub/message.py
 * like_python. A new object of the prototype's type with the prototype's
 * values, event and payload set: what calling the type would make, when the
 * prototype holds what its __init__ sets, without running that __init__.
 * A type that is not all slots of its own is called instead. */
static Slot event_slot;
static PyTypeObject *copied_type;
static unsigned int copied_version;

static PyObject *like(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *prototype, *copy;
    PyTypeObject *type;
    (void)self;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "like() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    prototype = args[0];
    type = Py_TYPE(prototype);
    if (!(type == copied_type && TAG_VALID(type) && copied_version == type->tp_version_tag)) {
        copied_type = NULL;
        if (!slots_only(type) || !TAG_VALID(type)) /* slots_only's lookups give the type a tag */
            return PyObject_CallFunctionObjArgs((PyObject *)type, args[1], args[2], NULL);
        slot_find(&event_slot, type);
        slot_find(&payload_slot, type);
        if (event_slot.type != type || payload_slot.type != type)
            return PyObject_CallFunctionObjArgs((PyObject *)type, args[1], args[2], NULL);
        copied_type = type;
        copied_version = type->tp_version_tag;
    }
    copy = slot_copy(prototype);
    if (copy == NULL)
        return NULL;
    if (slot_set(&event_slot, copy, args[1]) < 0 || slot_set(&payload_slot, copy, args[2]) < 0) {
        Py_DECREF(copy);
        return NULL;
    }
    return copy;
}

static PyMethodDef methods[] = {
    {"like", (PyCFunction)(void (*)(void))like, METH_FASTCALL,
     "like(prototype, event, payload): a copy of prototype with event and payload set."},
    {"no_numbers", (PyCFunction)(void (*)(void))no_numbers, METH_FASTCALL,
     "no_numbers(frames, head) -> bool: every frame starts with head, then a string, a list or null."},
    {"stamp_run", (PyCFunction)(void (*)(void))stamp_run, METH_FASTCALL,
     "stamp_run(messages, seq, tail, start) -> (starts, end): seq and tail spliced into each payload."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "picloud.wire._messages", "The C twins of the hub's work on each message.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__messages(void) {
    payload_slot.name = PyUnicode_InternFromString("payload");
    seq_slot.name = PyUnicode_InternFromString("seq");
    event_slot.name = PyUnicode_InternFromString("event");
    if (payload_slot.name == NULL || seq_slot.name == NULL || event_slot.name == NULL)
        return NULL;
    return PyModule_Create(&module);
}

/* The C twin of the common case of picloud/wire/frameparser.py's frame loop.
 *
 * FrameParser._parse stays the reference: parse_common takes from it only
 * the frames every publisher sends (complete, masked, FIN set, RSV clear,
 * TEXT or BINARY, within the message limit, text valid UTF-8) and gives
 * back the position of the first frame it did not take, from which the
 * Python loop carries on. Everything else (control frames, fragments,
 * incomplete frames, every error) is left to Python, so the two can only
 * differ in how fast they are; tests/wire/test_frames_native.py compares
 * them byte for byte.
 *
 * Plain C99 and the CPython API, for gcc on aarch64 and 32-bit armv7 alike:
 * words are read and written through memcpy (no unaligned loads through
 * cast pointers, no byte order assumed), lengths are Py_ssize_t, and the
 * 64-bit frame length is a uint64_t compared before it is narrowed.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#include "_slots.h"

#define OP_TEXT 0x1
#define OP_BINARY 0x2
/* Text this short is unmasked on the stack before it is decoded. */
#define STACK_TEXT 2048

/* dst = src XOR the repeated 4-byte mask. The mask's bytes are laid out in
 * memory twice and XORed with memory images, so byte order cancels out. */
static void
unmask_into(unsigned char *dst, const unsigned char *src, Py_ssize_t n, const unsigned char *mask)
{
    unsigned char twice[8];
    uint64_t key, word;
    Py_ssize_t i = 0;

    memcpy(twice, mask, 4);
    memcpy(twice + 4, mask, 4);
    memcpy(&key, twice, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&word, src + i, 8);
        word ^= key;
        memcpy(dst + i, &word, 8);
    }
    for (; i < n; i++) {
        dst[i] = src[i] ^ mask[i & 3];  /* i is a multiple of 8 here first */
    }
}

/* The message of one frame: bytes for BINARY, str for TEXT; NULL with no
 * exception set if the text is not valid UTF-8, NULL with one on failure. */
static PyObject *
message(int opcode, const unsigned char *payload, Py_ssize_t n, const unsigned char *mask)
{
    PyObject *value;
    unsigned char stack[STACK_TEXT];
    unsigned char *plain;

    if (opcode == OP_BINARY) {
        value = PyBytes_FromStringAndSize(NULL, n);
        if (value != NULL) {
            unmask_into((unsigned char *)PyBytes_AS_STRING(value), payload, n, mask);
        }
        return value;
    }
    plain = n <= STACK_TEXT ? stack : PyMem_Malloc((size_t)n);
    if (plain == NULL) {
        return PyErr_NoMemory();
    }
    unmask_into(plain, payload, n, mask);
    /* The decoder bytes.decode("utf-8") uses: it refuses exactly what that
     * refuses (overlong forms, surrogates, code points past U+10FFFF). */
    value = PyUnicode_DecodeUTF8((const char *)plain, n, "strict");
    if (plain != stack) {
        PyMem_Free(plain);
    }
    if (value == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();  /* Python parses the frame again and fails it with 1007 */
    }
    return value;
}

/* events.append((opcode, value)), value's reference taken; -1 on failure. */
static int
append(PyObject *events, int opcode, PyObject *value)
{
    PyObject *kind = PyLong_FromLong(opcode);
    PyObject *event;
    int failed;

    if (kind == NULL) {
        Py_DECREF(value);
        return -1;
    }
    event = PyTuple_Pack(2, kind, value);
    Py_DECREF(kind);
    Py_DECREF(value);
    if (event == NULL) {
        return -1;
    }
    failed = PyList_Append(events, event);
    Py_DECREF(event);
    return failed;
}

PyDoc_STRVAR(parse_common_doc,
"parse_common(data, pos, max_size, events) -> int\n\n"
"Append (TEXT, str) or (BINARY, bytes) to events for each frame of data,\n"
"from pos on, that is complete, masked, final, without reserved bits, of\n"
"at most max_size bytes and (text) valid UTF-8; return the position of the\n"
"first frame that is not.");

static PyObject *
parse_common(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const unsigned char *data;
    Py_ssize_t end, pos, limit;
    PyObject *events;

    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "parse_common takes 4 arguments (data, pos, max_size, events)");
        return NULL;
    }
    if (!PyBytes_Check(args[0]) || !PyList_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "parse_common takes bytes and a list");
        return NULL;
    }
    data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    end = PyBytes_GET_SIZE(args[0]);
    events = args[3];
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (pos < 0 || pos > end) {
        PyErr_SetString(PyExc_ValueError, "pos outside data");
        return NULL;
    }
    limit = PyLong_AsSsize_t(args[2]);
    if (limit == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return NULL;
        }
        /* A limit past Py_ssize_t: no frame that fits in data exceeds it,
         * unless the limit is negative, when every frame does. */
        PyObject *zero = PyLong_FromLong(0);
        int negative;
        PyErr_Clear();
        if (zero == NULL) {
            return NULL;
        }
        negative = PyObject_RichCompareBool(args[2], zero, Py_LT);
        Py_DECREF(zero);
        if (negative < 0) {
            return NULL;
        }
        limit = negative ? -1 : PY_SSIZE_T_MAX;
    }

    while (end - pos >= 6) {  /* the shortest masked frame */
        const unsigned char *frame = data + pos;
        Py_ssize_t avail = end - pos, head;
        uint64_t length = frame[1] & 0x7F;
        int opcode = frame[0] & 0x0F;
        PyObject *value;

        if ((frame[0] != (0x80 | OP_TEXT) && frame[0] != (0x80 | OP_BINARY)) || !(frame[1] & 0x80)) {
            break;
        }
        if (length < 126) {
            head = 6;
        } else if (length == 126) {
            head = 8;
            if (avail < head) {
                break;
            }
            length = ((uint64_t)frame[2] << 8) | frame[3];
        } else {
            int i;
            head = 14;
            if (avail < head) {
                break;
            }
            length = 0;
            for (i = 2; i < 10; i++) {
                length = (length << 8) | frame[i];
            }
        }
        /* limit may be -1: every frame is over it, Python fails the first */
        if (limit < 0 || length > (uint64_t)limit || length > (uint64_t)(avail - head)) {
            break;
        }
        value = message(opcode, frame + head, (Py_ssize_t)length, frame + head - 4);
        if (value == NULL) {
            if (PyErr_Occurred()) {
                return NULL;
            }
            break;
        }
        if (append(events, opcode, value) < 0) {
            return NULL;
        }
        pos += head + (Py_ssize_t)length;
    }
    return PyLong_FromSsize_t(pos);
}

PyDoc_STRVAR(unmask_doc,
"unmask(mask, data) -> bytes\n\n"
"data XOR the repeated 4-byte mask (as tornado.speedups.websocket_mask).");

static PyObject *
unmask(PyObject *module, PyObject *args)
{
    Py_buffer mask, data;
    PyObject *out = NULL;

    (void)module;
    if (!PyArg_ParseTuple(args, "y*y*:unmask", &mask, &data)) {
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "the mask must be 4 bytes");
    } else {
        out = PyBytes_FromStringAndSize(NULL, data.len);
        if (out != NULL) {
            unmask_into((unsigned char *)PyBytes_AS_STRING(out), data.buf, data.len, mask.buf);
        }
    }
    PyBuffer_Release(&mask);
    PyBuffer_Release(&data);
    return out;
}

PyDoc_STRVAR(text_frames_doc,
"text_frames(messages) -> list of bytes\n\n"
"Each message's _frame, its payload framed as one unmasked text frame and\n"
"kept in _frame where it was None (picloud/wire/frames.py text_frames_python).");

static Slot frame_slot, payload_slot;

static PyObject *
text_frame(PyObject *payload)
{
    Py_ssize_t length, head;
    PyObject *frame;
    unsigned char *out;

    if (!PyBytes_Check(payload)) {
        PyErr_Format(PyExc_TypeError, "payload must be bytes, not %.50s", Py_TYPE(payload)->tp_name);
        return NULL;
    }
    length = PyBytes_GET_SIZE(payload);
    head = length < 126 ? 2 : (length <= 0xFFFF ? 4 : 10);
    frame = PyBytes_FromStringAndSize(NULL, head + length);
    if (frame == NULL) {
        return NULL;
    }
    out = (unsigned char *)PyBytes_AS_STRING(frame);
    out[0] = 0x80 | OP_TEXT;
    if (head == 2) {
        out[1] = (unsigned char)length;
    } else if (head == 4) {
        out[1] = 126;
        out[2] = (unsigned char)(length >> 8);
        out[3] = (unsigned char)length;
    } else {
        uint64_t wide = (uint64_t)length;
        int k;
        out[1] = 127;
        for (k = 0; k < 8; k++) {
            out[2 + k] = (unsigned char)(wide >> (56 - 8 * k));
        }
    }
    memcpy(out + head, PyBytes_AS_STRING(payload), (size_t)length);
    return frame;
}

static PyObject *
text_frames(PyObject *module, PyObject *messages)
{
    PyObject *fast, *frames;
    Py_ssize_t count, i;

    (void)module;
    /* A tuple of its own: a property the attribute protocol runs may change the list. */
    fast = PySequence_Tuple(messages);
    if (fast == NULL) {
        return NULL;
    }
    count = PyTuple_GET_SIZE(fast);
    frames = PyList_New(count);
    if (frames == NULL) {
        Py_DECREF(fast);
        return NULL;
    }
    for (i = 0; i < count; i++) {
        PyObject *message = PyTuple_GET_ITEM(fast, i);
        PyObject *frame;
        slot_find(&frame_slot, Py_TYPE(message));
        frame = slot_get(&frame_slot, message);
        if (frame == Py_None) {
            PyObject *payload;
            slot_find(&payload_slot, Py_TYPE(message));
            payload = slot_get(&payload_slot, message);
            Py_DECREF(frame);
            if (payload == NULL) {
                goto fail;
            }
            frame = text_frame(payload);
            Py_DECREF(payload);
            if (frame == NULL || slot_set(&frame_slot, message, frame) < 0) {
                Py_XDECREF(frame);
                goto fail;
            }
        } else if (frame == NULL) {
            goto fail;
        }
        PyList_SET_ITEM(frames, i, frame);
    }
    Py_DECREF(fast);
    return frames;
fail:
    Py_DECREF(fast);
    Py_DECREF(frames);
    return NULL;
}

static PyMethodDef methods[] = {
    {"parse_common", (PyCFunction)(void (*)(void))parse_common, METH_FASTCALL, parse_common_doc},
    {"unmask", unmask, METH_VARARGS, unmask_doc},
    {"text_frames", text_frames, METH_O, text_frames_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef frames_module = {
    PyModuleDef_HEAD_INIT,
    "picloud.wire._frames",
    "The common case of the websocket frame loop in C (picloud/wire/frameparser.py).",
    -1,
    methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__frames(void)
{
    frame_slot.name = PyUnicode_InternFromString("_frame");
    payload_slot.name = PyUnicode_InternFromString("payload");
    if (frame_slot.name == NULL || payload_slot.name == NULL) {
        return NULL;
    }
    return PyModule_Create(&frames_module);
}

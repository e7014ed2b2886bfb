/* The C twin of picloud/wire/mqtt/parser.py's split_python: a chunk of
 * MQTT bytes cut into packets, PUBLISH and the four acks read where they
 * lie, every other packet handed to parser.decode as its body.
 *
 * The Python code is the reference: the same packets, the same errors with
 * the same messages, at the same place (tests/wire/mqtt/test_packets_native.py
 * compares the two on random streams in random chunkings). Topic names are
 * checked by the Python _check_topic (its messages quote the topic as
 * Python does) and remembered in the same dict.
 *
 * Plain C99 and the CPython API only: bytes are read one at a time, never
 * through a wider pointer, so neither alignment nor byte order matters
 * (aarch64, armv7).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Set once by configure(): the packet classes, parser.decode,
 * parser._check_topic, the topic cache and MqttError. */
static PyObject *Publish, *Ack, *Decode, *CheckTopic, *Topics, *MqttError;

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *publish, *ack, *decode, *check_topic, *topics, *error;
    (void)module;
    if (!PyArg_ParseTuple(args, "OOOOO!O", &publish, &ack, &decode, &check_topic,
                          &PyDict_Type, &topics, &error))
        return NULL;
    Py_INCREF(publish);
    Py_XSETREF(Publish, publish);
    Py_INCREF(ack);
    Py_XSETREF(Ack, ack);
    Py_INCREF(decode);
    Py_XSETREF(Decode, decode);
    Py_INCREF(check_topic);
    Py_XSETREF(CheckTopic, check_topic);
    Py_INCREF(topics);
    Py_XSETREF(Topics, topics);
    Py_INCREF(error);
    Py_XSETREF(MqttError, error);
    Py_RETURN_NONE;
}

static PyObject *
fail(const char *message)
{
    PyErr_SetString(MqttError, message);
    return NULL;
}

/* The PUBLISH whose body is data[at:stop], as parser._publish_at makes it. */
static PyObject *
publish_at(unsigned int first, const unsigned char *data, Py_ssize_t at, Py_ssize_t stop)
{
    int qos = (int)((first >> 1) & 3);
    Py_ssize_t topic_end;
    PyObject *raw, *topic, *payload, *qos_obj, *packet_id = NULL, *packet;
    if (qos == 3)
        return fail("publish with qos 3 [MQTT-3.3.1-4]");
    if (stop - at < 2)
        return fail("packet ends inside a field");
    topic_end = at + 2 + (((Py_ssize_t)data[at] << 8) | data[at + 1]);
    if (topic_end > stop)
        return fail("packet ends inside a field");
    raw = PyBytes_FromStringAndSize((const char *)data + at + 2, topic_end - at - 2);
    if (raw == NULL)
        return NULL;
    topic = PyDict_GetItemWithError(Topics, raw);
    if (topic != NULL) {
        Py_INCREF(topic);
    } else if (!PyErr_Occurred()) {
        topic = PyObject_CallFunctionObjArgs(CheckTopic, raw, NULL);
    }
    Py_DECREF(raw);
    if (topic == NULL)
        return NULL;
    if (qos) {
        long ident;
        if (stop - topic_end < 2) {
            Py_DECREF(topic);
            return fail("packet ends inside a field");
        }
        ident = ((long)data[topic_end] << 8) | data[topic_end + 1];
        if (!ident) {
            Py_DECREF(topic);
            return fail("packet id 0 [MQTT-2.3.1-1]");
        }
        topic_end += 2;
        packet_id = PyLong_FromLong(ident);
        if (packet_id == NULL) {
            Py_DECREF(topic);
            return NULL;
        }
    } else {
        packet_id = Py_None;
        Py_INCREF(packet_id);
    }
    payload = PyBytes_FromStringAndSize((const char *)data + topic_end, stop - topic_end);
    qos_obj = PyLong_FromLong(qos);
    if (payload == NULL || qos_obj == NULL) {
        packet = NULL;
    } else {
        packet = PyObject_CallFunctionObjArgs(Publish, topic, payload, qos_obj, (first & 1) ? Py_True : Py_False,
                                              (first & 8) ? Py_True : Py_False, packet_id, NULL);
    }
    Py_DECREF(topic);
    Py_XDECREF(payload);
    Py_XDECREF(qos_obj);
    Py_DECREF(packet_id);
    return packet;
}

static PyObject *
ack(unsigned int first, const unsigned char *data, Py_ssize_t at)
{
    PyObject *kind = PyLong_FromLong((long)(first >> 4));
    PyObject *ident = PyLong_FromLong(((long)data[at] << 8) | data[at + 1]);
    PyObject *packet = NULL;
    if (kind != NULL && ident != NULL)
        packet = PyObject_CallFunctionObjArgs(Ack, kind, ident, NULL);
    Py_XDECREF(kind);
    Py_XDECREF(ident);
    return packet;
}

static PyObject *
other(unsigned int first, const unsigned char *data, Py_ssize_t at, Py_ssize_t stop)
{
    PyObject *kind = PyLong_FromLong((long)first);
    PyObject *body = PyBytes_FromStringAndSize((const char *)data + at, stop - at);
    PyObject *packet = NULL;
    if (kind != NULL && body != NULL)
        packet = PyObject_CallFunctionObjArgs(Decode, kind, body, NULL);
    Py_XDECREF(kind);
    Py_XDECREF(body);
    return packet;
}

/* split(buffer, max_packet) -> (packets, used): the complete packets at the
 * start of buffer, and how many bytes they took. */
static PyObject *
split(PyObject *module, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t max_packet, start = 0, end;
    const unsigned char *data;
    PyObject *packets, *limit;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*O!", &view, &PyLong_Type, &limit))
        return NULL;
    max_packet = PyLong_AsSsize_t(limit);
    if (max_packet == -1 && PyErr_Occurred()) {
        /* A limit past Py_ssize_t (2 GiB on armv7): no packet in the buffer
         * is over it, unless it is negative, when every one is. */
        PyObject *zero;
        int negative;
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyBuffer_Release(&view);
            return NULL;
        }
        PyErr_Clear();
        zero = PyLong_FromLong(0);
        negative = zero == NULL ? -1 : PyObject_RichCompareBool(limit, zero, Py_LT);
        Py_XDECREF(zero);
        if (negative < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
        max_packet = negative ? -1 : PY_SSIZE_T_MAX;
    }
    if (Publish == NULL) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_RuntimeError, "_packets.configure() was not called");
        return NULL;
    }
    data = (const unsigned char *)view.buf;
    end = view.len;
    packets = PyList_New(0);
    if (packets == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    while (end - start >= 2) {
        unsigned int first = data[start];
        Py_ssize_t length = data[start + 1], body, stop;
        PyObject *packet;
        if (length < 0x80) {
            body = start + 2;
        } else {
            int shift, used = 0;
            length = 0;
            for (shift = 0; shift < 4; shift++) {
                unsigned int byte;
                if (start + 1 + shift >= end) {
                    used = -1;
                    break;
                }
                byte = data[start + 1 + shift];
                length |= (Py_ssize_t)(byte & 0x7F) << (7 * shift);
                if (!(byte & 0x80)) {
                    used = shift + 1;
                    break;
                }
            }
            if (used == 0) {
                fail("malformed remaining length: more than 4 bytes");
                goto error;
            }
            if (used < 0)
                break;
            body = start + 1 + used;
        }
        if (length > max_packet) {
            PyErr_Format(MqttError, "packet of %zd bytes is over the limit of %S", length, limit);
            goto error;
        }
        stop = body + length;
        if (stop > end)
            break;
        if ((first >> 4) == 3)
            packet = publish_at(first, data, body, stop);
        else if (length == 2 && (first == 0x40 || first == 0x50 || first == 0x62 || first == 0x70))
            packet = ack(first, data, body);
        else
            packet = other(first, data, body, stop);
        if (packet == NULL)
            goto error;
        if (PyList_Append(packets, packet) < 0) {
            Py_DECREF(packet);
            goto error;
        }
        Py_DECREF(packet);
        start = stop;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(Nn)", packets, start);
error:
    PyBuffer_Release(&view);
    Py_DECREF(packets);
    return NULL;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(Publish, Ack, decode, check_topic, topics, MqttError): what split() builds and calls."},
    {"split", split, METH_VARARGS,
     "split(buffer, max_packet) -> (packets, used): parser.split_python in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_packets", "The C twin of picloud.wire.mqtt.parser.split_python.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__packets(void)
{
    return PyModule_Create(&module);
}

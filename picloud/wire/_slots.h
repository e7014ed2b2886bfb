/* An attribute kept in a __slots__ slot, read and written in place: for the
 * C twins' loops over hub/message.py's Message, where PyObject_GetAttr's
 * type lookup and descriptor call cost more than the work on the value.
 *
 * slot_find takes the type of the first object and where it keeps the
 * attribute, if that is a writable object slot (a member descriptor of
 * T_OBJECT_EX); slot_get and slot_set use it for objects of exactly that
 * type and fall back to the ordinary attribute protocol for anything else,
 * or for a slot never set (which raises AttributeError there). What is
 * found is kept with the type's version tag, which changes whenever the
 * type or a base is modified, so a class changed later is looked up again.
 * slots_only and slot_copy make a new object as a copy of another, for a
 * class that keeps everything in plain slots of its own.
 */
#ifndef PICLOUD_SLOTS_H
#define PICLOUD_SLOTS_H

#include <Python.h>
#include <structmember.h>

#ifdef Py_T_OBJECT_EX
#define SLOT_OBJECT Py_T_OBJECT_EX
#define SLOT_READONLY Py_READONLY
#else
#define SLOT_OBJECT T_OBJECT_EX
#define SLOT_READONLY READONLY
#endif

/* Whether type's version tag can be trusted: from 3.11 a modified type's tag
 * is set to 0; before, only its VALID_VERSION_TAG flag is cleared. */
#if PY_VERSION_HEX < 0x030B0000
#define TAG_VALID(type) ((type)->tp_version_tag != 0 && PyType_HasFeature((type), Py_TPFLAGS_VALID_VERSION_TAG))
#else
#define TAG_VALID(type) ((type)->tp_version_tag != 0)
#endif

typedef struct {
    PyObject *name;           /* interned attribute name */
    PyTypeObject *type;       /* the type the offset is for, or NULL: none */
    unsigned int version;     /* its version tag when found */
    Py_ssize_t offset;
} Slot;

static inline void slot_find(Slot *slot, PyTypeObject *type) {
    PyObject *descr;
    if (slot->type == type && TAG_VALID(type) && slot->version == type->tp_version_tag)
        return;
    slot->type = NULL;
    descr = PyObject_GetAttr((PyObject *)type, slot->name);
    if (descr == NULL) {
        PyErr_Clear(); /* slot_get and slot_set raise what the attribute protocol raises */
        return;
    }
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == SLOT_OBJECT && !(member->flags & SLOT_READONLY) && TAG_VALID(type)) {
            slot->type = type;
            slot->version = type->tp_version_tag;
            slot->offset = member->offset;
        }
    }
    Py_DECREF(descr);
}

/* A new reference to obj's attribute, or NULL with the exception set. */
static inline PyObject *slot_get(const Slot *slot, PyObject *obj) {
    if (Py_TYPE(obj) == slot->type) {
        PyObject *value = *(PyObject **)((char *)obj + slot->offset);
        if (value != NULL) {
            Py_INCREF(value);
            return value;
        }
    }
    return PyObject_GetAttr(obj, slot->name);
}

static inline int slot_set(const Slot *slot, PyObject *obj, PyObject *value) {
    if (Py_TYPE(obj) == slot->type) {
        PyObject **at = (PyObject **)((char *)obj + slot->offset);
        PyObject *old = *at;
        Py_INCREF(value);
        *at = value;
        Py_XDECREF(old);
        return 0;
    }
    return PyObject_SetAttr(obj, slot->name, value);
}

/* Whether objects of type keep everything in object slots of their own:
 * no __dict__, no __weakref__, no slotted base, every member T_OBJECT_EX.
 * Then a copy of one is its slots copied (slot_copy). */
static inline int slots_only(PyTypeObject *type) {
    PyMemberDef *member;
    if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE) || type->tp_base != &PyBaseObject_Type ||
        type->tp_dictoffset != 0 || type->tp_weaklistoffset != 0 || type->tp_members == NULL ||
        type->tp_alloc != PyType_GenericAlloc)
        return 0;
    for (member = type->tp_members; member->name != NULL; member++) {
        PyObject *descr;
        int own;
        if (member->type != SLOT_OBJECT || (member->flags & SLOT_READONLY))
            return 0;
        /* Still the slot's own descriptor: not replaced by a property since. */
        descr = PyObject_GetAttrString((PyObject *)type, member->name);
        if (descr == NULL) {
            PyErr_Clear();
            return 0;
        }
        own = Py_IS_TYPE(descr, &PyMemberDescr_Type) && ((PyMemberDescrObject *)descr)->d_member == member;
        Py_DECREF(descr);
        if (!own)
            return 0;
    }
    return 1;
}

/* A new object of like's type holding what like holds, slot for slot
 * (slots_only must be true of the type); NULL with the exception set. */
static inline PyObject *slot_copy(PyObject *like) {
    PyTypeObject *type = Py_TYPE(like);
    PyObject *copy = type->tp_alloc(type, 0);
    PyMemberDef *member;
    if (copy == NULL)
        return NULL;
    for (member = type->tp_members; member->name != NULL; member++) {
        PyObject *value = *(PyObject **)((char *)like + member->offset);
        Py_XINCREF(value);
        *(PyObject **)((char *)copy + member->offset) = value;
    }
    return copy;
}

#endif

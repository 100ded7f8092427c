/* WebSocket masking (RFC 6455 §5.3) in C: the twin of _frames._apply_mask_python.
 *
 * "Octet i of the transformed data is the XOR of octet i of the original data with
 * octet at index i modulo 4 of the masking key." Masking is an involution, so the same
 * function masks and unmasks. The bytes are XORed eight at a time with the key repeated
 * twice: every 8-byte step starts at a multiple of 4, so the key phase stays 0 and the
 * loop needs no byte shuffling; where SSE2 exists, 16 bytes at a time the same way.
 * memcpy and the unaligned SSE2 loads and stores make it alignment-safe; the 8-byte
 * pattern is built from the key's bytes in memory order, so the result does not depend
 * on the machine's endianness.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h> /* every x86-64 CPU has SSE2: 16 bytes per XOR */
#endif

static PyObject *
cmask_apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, mask;
    PyObject *result = NULL;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "apply_mask() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    /* PyBUF_SIMPLE: any C-contiguous buffer (bytes, bytearray, a memoryview slice). */
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &mask, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_Format(PyExc_ValueError, "mask must be 4 bytes, not %zd", mask.len);
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        const unsigned char *src = (const unsigned char *)data.buf;
        const unsigned char *key = (const unsigned char *)mask.buf;
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(result);
        unsigned char pattern[8];
        uint64_t key8, word;
        Py_ssize_t n = data.len, i = 0;

        memcpy(pattern, key, 4);
        memcpy(pattern + 4, key, 4);
        memcpy(&key8, pattern, 8);
#if defined(__SSE2__)
        {
            const __m128i key16 = _mm_set1_epi64x((long long)key8);
            for (; i + 16 <= n; i += 16) {
                __m128i block = _mm_loadu_si128((const __m128i *)(src + i));
                _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(block, key16));
            }
        }
#endif
        for (; i + 8 <= n; i += 8) {
            memcpy(&word, src + i, 8);
            word ^= key8;
            memcpy(dst + i, &word, 8);
        }
        for (; i < n; i++) {
            dst[i] = src[i] ^ key[i & 3];
        }
    }
done:
    PyBuffer_Release(&mask);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef cmask_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))cmask_apply_mask, METH_FASTCALL,
     "apply_mask(data, mask) -> bytes\n\n"
     "XOR data (any contiguous buffer) with the 4-byte mask repeated (RFC 6455 5.3)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef cmask_module = {
    PyModuleDef_HEAD_INIT,
    "asgi_magic.websocket._cmask",
    "WebSocket masking in C (the pure-Python twin is in _frames.py).",
    -1,
    cmask_methods,
};

PyMODINIT_FUNC
PyInit__cmask(void)
{
    return PyModule_Create(&cmask_module);
}

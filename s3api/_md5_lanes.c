/*
 * MD5 compression of several independent streams at once.
 *
 * MD5 is one long dependency chain per stream, so a single stream cannot go
 * faster than the latency of that chain (about 0.7 GB/s here). Independent
 * streams can share it: each 32-bit lane of a vector register carries a
 * different stream, and one pass of the 64 MD5 steps advances eight streams.
 * The ETags of concurrent PUTs then cost the CPU of one.
 *
 * compress(kernel, states, buffers, nblocks) applies nblocks 64-byte blocks
 * of buffers[i] to states[i] (16 bytes: A, B, C, D little-endian), for up to
 * eight lanes, with the GIL released. Padding, partial blocks and scheduling
 * are the caller's (s3api/md5_lanes.py).
 *
 * Kernels: "scalar" (portable C, also used for a single lane), "avx2" and
 * "avx512" (AVX-512F/VL on 256-bit registers: ternary logic and rotate are one
 * instruction each). The vector kernels are compiled with target attributes
 * and used only when the CPU reports the features.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MD5_LANES_X86 1
#include <immintrin.h>
#endif

#define LANES 8
#define BLOCK 64

static const uint32_t K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* The 64 steps in RFC 1321 order: round function, message word, shift.
 * STEP(fn, a, b, c, d, word, step, shift) is defined by each kernel. */
#define MD5_ROUNDS(W)                                                                               \
    STEP(F, a, b, c, d, W[0], 0, 7); STEP(F, d, a, b, c, W[1], 1, 12);                              \
    STEP(F, c, d, a, b, W[2], 2, 17); STEP(F, b, c, d, a, W[3], 3, 22);                             \
    STEP(F, a, b, c, d, W[4], 4, 7); STEP(F, d, a, b, c, W[5], 5, 12);                              \
    STEP(F, c, d, a, b, W[6], 6, 17); STEP(F, b, c, d, a, W[7], 7, 22);                             \
    STEP(F, a, b, c, d, W[8], 8, 7); STEP(F, d, a, b, c, W[9], 9, 12);                              \
    STEP(F, c, d, a, b, W[10], 10, 17); STEP(F, b, c, d, a, W[11], 11, 22);                         \
    STEP(F, a, b, c, d, W[12], 12, 7); STEP(F, d, a, b, c, W[13], 13, 12);                          \
    STEP(F, c, d, a, b, W[14], 14, 17); STEP(F, b, c, d, a, W[15], 15, 22);                         \
    STEP(G, a, b, c, d, W[1], 16, 5); STEP(G, d, a, b, c, W[6], 17, 9);                             \
    STEP(G, c, d, a, b, W[11], 18, 14); STEP(G, b, c, d, a, W[0], 19, 20);                          \
    STEP(G, a, b, c, d, W[5], 20, 5); STEP(G, d, a, b, c, W[10], 21, 9);                            \
    STEP(G, c, d, a, b, W[15], 22, 14); STEP(G, b, c, d, a, W[4], 23, 20);                          \
    STEP(G, a, b, c, d, W[9], 24, 5); STEP(G, d, a, b, c, W[14], 25, 9);                            \
    STEP(G, c, d, a, b, W[3], 26, 14); STEP(G, b, c, d, a, W[8], 27, 20);                           \
    STEP(G, a, b, c, d, W[13], 28, 5); STEP(G, d, a, b, c, W[2], 29, 9);                            \
    STEP(G, c, d, a, b, W[7], 30, 14); STEP(G, b, c, d, a, W[12], 31, 20);                          \
    STEP(H, a, b, c, d, W[5], 32, 4); STEP(H, d, a, b, c, W[8], 33, 11);                            \
    STEP(H, c, d, a, b, W[11], 34, 16); STEP(H, b, c, d, a, W[14], 35, 23);                         \
    STEP(H, a, b, c, d, W[1], 36, 4); STEP(H, d, a, b, c, W[4], 37, 11);                            \
    STEP(H, c, d, a, b, W[7], 38, 16); STEP(H, b, c, d, a, W[10], 39, 23);                          \
    STEP(H, a, b, c, d, W[13], 40, 4); STEP(H, d, a, b, c, W[0], 41, 11);                           \
    STEP(H, c, d, a, b, W[3], 42, 16); STEP(H, b, c, d, a, W[6], 43, 23);                           \
    STEP(H, a, b, c, d, W[9], 44, 4); STEP(H, d, a, b, c, W[12], 45, 11);                           \
    STEP(H, c, d, a, b, W[15], 46, 16); STEP(H, b, c, d, a, W[2], 47, 23);                          \
    STEP(I, a, b, c, d, W[0], 48, 6); STEP(I, d, a, b, c, W[7], 49, 10);                            \
    STEP(I, c, d, a, b, W[14], 50, 15); STEP(I, b, c, d, a, W[5], 51, 21);                          \
    STEP(I, a, b, c, d, W[12], 52, 6); STEP(I, d, a, b, c, W[3], 53, 10);                           \
    STEP(I, c, d, a, b, W[10], 54, 15); STEP(I, b, c, d, a, W[1], 55, 21);                          \
    STEP(I, a, b, c, d, W[8], 56, 6); STEP(I, d, a, b, c, W[15], 57, 10);                           \
    STEP(I, c, d, a, b, W[6], 58, 15); STEP(I, b, c, d, a, W[13], 59, 21);                          \
    STEP(I, a, b, c, d, W[4], 60, 6); STEP(I, d, a, b, c, W[11], 61, 10);                           \
    STEP(I, c, d, a, b, W[2], 62, 15); STEP(I, b, c, d, a, W[9], 63, 21);

/* ---- one lane, portable C ------------------------------------------------ */

static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#define F(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define G(b, c, d) ((c) ^ ((d) & ((b) ^ (c))))
#define H(b, c, d) ((b) ^ (c) ^ (d))
#define I(b, c, d) ((c) ^ ((b) | ~(d)))
#define ROL32(x, s) (((x) << (s)) | ((x) >> (32 - (s))))
#define STEP(fn, a, b, c, d, w, i, s) a = b + ROL32(a + fn(b, c, d) + (w) + K[i], s)

static void md5_scalar(uint32_t st[4], const uint8_t *p, size_t nblocks)
{
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    for (size_t n = 0; n < nblocks; n++, p += BLOCK) {
        uint32_t W[16];
        for (int j = 0; j < 16; j++)
            W[j] = load_le32(p + 4 * j);
        uint32_t aa = a, bb = b, cc = c, dd = d;
        MD5_ROUNDS(W)
        a += aa; b += bb; c += cc; d += dd;
    }
    st[0] = a; st[1] = b; st[2] = c; st[3] = d;
}

#undef F
#undef G
#undef H
#undef I
#undef STEP

#ifdef MD5_LANES_X86

/* Eight 64-byte blocks (one per lane) into sixteen vectors of message words:
 * two 8x8 transposes of 32-bit words. */
#define LOAD_WORDS(W, p, off)                                                                       \
    for (int h = 0; h < 2; h++) {                                                                   \
        __m256i r0 = _mm256_loadu_si256((const __m256i *)(p[0] + off[0] + 32 * h));                 \
        __m256i r1 = _mm256_loadu_si256((const __m256i *)(p[1] + off[1] + 32 * h));                 \
        __m256i r2 = _mm256_loadu_si256((const __m256i *)(p[2] + off[2] + 32 * h));                 \
        __m256i r3 = _mm256_loadu_si256((const __m256i *)(p[3] + off[3] + 32 * h));                 \
        __m256i r4 = _mm256_loadu_si256((const __m256i *)(p[4] + off[4] + 32 * h));                 \
        __m256i r5 = _mm256_loadu_si256((const __m256i *)(p[5] + off[5] + 32 * h));                 \
        __m256i r6 = _mm256_loadu_si256((const __m256i *)(p[6] + off[6] + 32 * h));                 \
        __m256i r7 = _mm256_loadu_si256((const __m256i *)(p[7] + off[7] + 32 * h));                 \
        __m256i t0 = _mm256_unpacklo_epi32(r0, r1), t1 = _mm256_unpackhi_epi32(r0, r1);             \
        __m256i t2 = _mm256_unpacklo_epi32(r2, r3), t3 = _mm256_unpackhi_epi32(r2, r3);             \
        __m256i t4 = _mm256_unpacklo_epi32(r4, r5), t5 = _mm256_unpackhi_epi32(r4, r5);             \
        __m256i t6 = _mm256_unpacklo_epi32(r6, r7), t7 = _mm256_unpackhi_epi32(r6, r7);             \
        __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);             \
        __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);             \
        __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);             \
        __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);             \
        W[8 * h + 0] = _mm256_permute2x128_si256(u0, u4, 0x20);                                     \
        W[8 * h + 1] = _mm256_permute2x128_si256(u1, u5, 0x20);                                     \
        W[8 * h + 2] = _mm256_permute2x128_si256(u2, u6, 0x20);                                     \
        W[8 * h + 3] = _mm256_permute2x128_si256(u3, u7, 0x20);                                     \
        W[8 * h + 4] = _mm256_permute2x128_si256(u0, u4, 0x31);                                     \
        W[8 * h + 5] = _mm256_permute2x128_si256(u1, u5, 0x31);                                     \
        W[8 * h + 6] = _mm256_permute2x128_si256(u2, u6, 0x31);                                     \
        W[8 * h + 7] = _mm256_permute2x128_si256(u3, u7, 0x31);                                     \
    }

/* a + word + constant is computed off the dependency chain; the empty asm
 * keeps the compiler from folding it back into the chain. */
#define VSTEP(fn, a, b, c, d, w, i, s)                                                              \
    do {                                                                                            \
        __m256i t_ = _mm256_add_epi32(a, _mm256_add_epi32(w, _mm256_set1_epi32((int)K[i])));        \
        __asm__("" : "+x"(t_));                                                                     \
        a = _mm256_add_epi32(b, ROLV(_mm256_add_epi32(fn(b, c, d), t_), s));                        \
    } while (0)

/* The body shared by both vector kernels: p[i] + off[i] is lane i's next
 * block; off advances by stride[i] (64, or 0 for an idle lane). */
#define VECTOR_KERNEL_BODY                                                                          \
    uint32_t sa[LANES], sb[LANES], sc[LANES], sd[LANES];                                            \
    for (int l = 0; l < LANES; l++) {                                                               \
        sa[l] = st[l][0]; sb[l] = st[l][1]; sc[l] = st[l][2]; sd[l] = st[l][3];                     \
    }                                                                                               \
    __m256i a = _mm256_loadu_si256((const __m256i *)sa), b = _mm256_loadu_si256((const __m256i *)sb); \
    __m256i c = _mm256_loadu_si256((const __m256i *)sc), d = _mm256_loadu_si256((const __m256i *)sd); \
    size_t off[LANES] = {0};                                                                        \
    for (size_t n = 0; n < nblocks; n++) {                                                          \
        __m256i W[16];                                                                              \
        LOAD_WORDS(W, p, off)                                                                       \
        __m256i aa = a, bb = b, cc = c, dd = d;                                                     \
        MD5_ROUNDS(W)                                                                               \
        a = _mm256_add_epi32(a, aa); b = _mm256_add_epi32(b, bb);                                   \
        c = _mm256_add_epi32(c, cc); d = _mm256_add_epi32(d, dd);                                   \
        for (int l = 0; l < LANES; l++)                                                             \
            off[l] += stride[l];                                                                    \
    }                                                                                               \
    _mm256_storeu_si256((__m256i *)sa, a); _mm256_storeu_si256((__m256i *)sb, b);                   \
    _mm256_storeu_si256((__m256i *)sc, c); _mm256_storeu_si256((__m256i *)sd, d);                   \
    for (int l = 0; l < LANES; l++) {                                                               \
        st[l][0] = sa[l]; st[l][1] = sb[l]; st[l][2] = sc[l]; st[l][3] = sd[l];                     \
    }

#define STEP VSTEP

/* AVX2: three-operation round functions, rotate by two shifts and an or. */
#define F(b, c, d) _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
#define G(b, c, d) _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)))
#define H(b, c, d) _mm256_xor_si256(_mm256_xor_si256(b, c), d)
#define I(b, c, d) _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, _mm256_set1_epi32(-1))))
#define ROLV(x, s) _mm256_or_si256(_mm256_slli_epi32(x, s), _mm256_srli_epi32(x, 32 - (s)))

__attribute__((target("avx2")))
static void md5_avx2(uint32_t st[LANES][4], const uint8_t *p[LANES], const size_t stride[LANES], size_t nblocks)
{
    VECTOR_KERNEL_BODY
}

#undef F
#undef G
#undef H
#undef I
#undef ROLV

/* AVX-512F/VL: each round function is one ternary-logic instruction
 * (truth tables: F = b?c:d, G = d?b:c, H = b^c^d, I = c^(b|~d)). */
#define F(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0xCA)
#define G(b, c, d) _mm256_ternarylogic_epi32(d, b, c, 0xCA)
#define H(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0x96)
#define I(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0x39)
#define ROLV(x, s) _mm256_rol_epi32(x, s)

__attribute__((target("avx2,avx512f,avx512vl")))
static void md5_avx512(uint32_t st[LANES][4], const uint8_t *p[LANES], const size_t stride[LANES], size_t nblocks)
{
    VECTOR_KERNEL_BODY
}

#undef F
#undef G
#undef H
#undef I
#undef ROLV
#undef STEP

#endif /* MD5_LANES_X86 */

/* ---- Python binding ------------------------------------------------------- */

enum kernel { KERNEL_SCALAR, KERNEL_AVX2, KERNEL_AVX512 };

static int kernel_available(enum kernel k)
{
    switch (k) {
    case KERNEL_SCALAR:
        return 1;
#ifdef MD5_LANES_X86
    case KERNEL_AVX2:
        return __builtin_cpu_supports("avx2");
    case KERNEL_AVX512:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512vl");
#endif
    default:
        return 0;
    }
}

static const char *const KERNEL_NAMES[] = {"scalar", "avx2", "avx512"};

static PyObject *md5_lanes_kernels(PyObject *self, PyObject *unused)
{
    PyObject *names = PyList_New(0);
    if (names == NULL)
        return NULL;
    for (int k = KERNEL_SCALAR; k <= KERNEL_AVX512; k++) {
        if (!kernel_available((enum kernel)k))
            continue;
        PyObject *name = PyUnicode_FromString(KERNEL_NAMES[k]);
        if (name == NULL || PyList_Append(names, name) < 0) {
            Py_XDECREF(name);
            Py_DECREF(names);
            return NULL;
        }
        Py_DECREF(name);
    }
    PyObject *result = PyList_AsTuple(names);
    Py_DECREF(names);
    return result;
}

static const uint8_t IDLE_BLOCK[BLOCK];

static PyObject *md5_lanes_compress(PyObject *self, PyObject *args)
{
    const char *kernel_name;
    PyObject *states_arg, *buffers_arg;
    Py_ssize_t nblocks;
    if (!PyArg_ParseTuple(args, "sOOn:compress", &kernel_name, &states_arg, &buffers_arg, &nblocks))
        return NULL;
    int kernel = -1;
    for (int k = KERNEL_SCALAR; k <= KERNEL_AVX512; k++)
        if (strcmp(kernel_name, KERNEL_NAMES[k]) == 0)
            kernel = k;
    if (kernel < 0 || !kernel_available((enum kernel)kernel)) {
        PyErr_Format(PyExc_ValueError, "MD5 kernel %s is not available here", kernel_name);
        return NULL;
    }
    if (nblocks < 0) {
        PyErr_SetString(PyExc_ValueError, "nblocks must not be negative");
        return NULL;
    }
    PyObject *states = PySequence_Fast(states_arg, "states must be a sequence");
    if (states == NULL)
        return NULL;
    PyObject *buffers = PySequence_Fast(buffers_arg, "buffers must be a sequence");
    if (buffers == NULL) {
        Py_DECREF(states);
        return NULL;
    }
    Py_ssize_t lanes = PySequence_Fast_GET_SIZE(states);
    Py_buffer state_views[LANES], data_views[LANES];
    Py_ssize_t held_states = 0, held_data = 0;
    PyObject *result = NULL;
    if (lanes < 1 || lanes > LANES || PySequence_Fast_GET_SIZE(buffers) != lanes) {
        PyErr_Format(PyExc_ValueError, "between 1 and %d lanes, one buffer per state", LANES);
        goto done;
    }
    for (; held_states < lanes; held_states++) {
        PyObject *state = PySequence_Fast_GET_ITEM(states, held_states);
        if (PyObject_GetBuffer(state, &state_views[held_states], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (state_views[held_states].len != 16) {
            held_states++;
            PyErr_SetString(PyExc_ValueError, "an MD5 state is 16 writable bytes");
            goto done;
        }
    }
    for (; held_data < lanes; held_data++) {
        PyObject *buffer = PySequence_Fast_GET_ITEM(buffers, held_data);
        if (PyObject_GetBuffer(buffer, &data_views[held_data], PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (data_views[held_data].len / BLOCK < nblocks) {
            held_data++;
            PyErr_SetString(PyExc_ValueError, "a buffer is shorter than nblocks blocks");
            goto done;
        }
    }

    uint32_t st[LANES][4];
    const uint8_t *ptrs[LANES];
    size_t stride[LANES];
    for (int l = 0; l < LANES; l++) {
        if (l < lanes) {
            memcpy(st[l], state_views[l].buf, 16);
            ptrs[l] = (const uint8_t *)data_views[l].buf;
            stride[l] = BLOCK;
        } else {
            memset(st[l], 0, 16);
            ptrs[l] = IDLE_BLOCK;
            stride[l] = 0;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    if (kernel == KERNEL_SCALAR || lanes == 1) {
        for (int l = 0; l < lanes; l++)
            md5_scalar(st[l], ptrs[l], (size_t)nblocks);
    }
#ifdef MD5_LANES_X86
    else if (kernel == KERNEL_AVX512) {
        md5_avx512(st, ptrs, stride, (size_t)nblocks);
    } else {
        md5_avx2(st, ptrs, stride, (size_t)nblocks);
    }
#endif
    Py_END_ALLOW_THREADS
    for (Py_ssize_t l = 0; l < lanes; l++)
        memcpy(state_views[l].buf, st[l], 16);
    result = Py_None;
    Py_INCREF(result);

done:
    for (Py_ssize_t i = 0; i < held_states; i++)
        PyBuffer_Release(&state_views[i]);
    for (Py_ssize_t i = 0; i < held_data; i++)
        PyBuffer_Release(&data_views[i]);
    Py_DECREF(states);
    Py_DECREF(buffers);
    return result;
}

static PyMethodDef md5_lanes_methods[] = {
    {"kernels", md5_lanes_kernels, METH_NOARGS,
     "kernels() -> tuple of the kernel names this CPU runs, slowest first."},
    {"compress", md5_lanes_compress, METH_VARARGS,
     "compress(kernel, states, buffers, nblocks): apply nblocks 64-byte blocks of each buffer "
     "to the 16-byte MD5 state beside it, up to 8 lanes at once, without the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef md5_lanes_module = {
    PyModuleDef_HEAD_INIT, "_md5_lanes",
    "MD5 compression of up to eight independent streams per pass (see md5_lanes).", -1,
    md5_lanes_methods,
};

PyMODINIT_FUNC PyInit__md5_lanes(void)
{
    PyObject *module = PyModule_Create(&md5_lanes_module);
    if (module != NULL && PyModule_AddIntConstant(module, "LANES", LANES) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

/*
 * npy.h - numpy's .npy format (versions 1.0, 2.0 and 3.0), read-only: the
 * factor matrices and id lists that `encore-train import` takes from Python
 * (implicit, numpy.save).
 *
 * Layout (numpy's NEP 1):
 *
 *   "\x93NUMPY" major minor  header length (u16 LE; u32 LE from 2.0)
 *   header: a Python dict literal {'descr': '<f4', 'fortran_order': False,
 *           'shape': (943, 64), } padded with spaces, ending in '\n'
 *   data:   shape x itemsize bytes, C or Fortran order
 *
 * The header is validated strictly: exactly the keys descr, fortran_order
 * and shape, a well-formed literal of printable ASCII, a final newline, and
 * a data block of exactly shape x itemsize bytes (overflow-checked). Object
 * arrays (pickles) and structured dtypes are refused. What the arrays mean
 * (matrices, ids) is import.c's business.
 */
#ifndef ENCORE_MF_NPY_H
#define ENCORE_MF_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MF_NPY_MAX_DIMS 8

/* A validated .npy buffer; `data` is borrowed from the parsed buffer. */
struct mf_npy {
    int major, minor; /* format version: 1.0, 2.0 or 3.0 */
    char kind;        /* 'f' float, 'i' int, 'u' uint, 'U' unicode, 'S' bytes */
    size_t itemsize;  /* bytes per element ('U': 4 x chars) */
    int big_endian;   /* '>' in descr */
    int fortran_order;
    int ndim;
    int64_t shape[MF_NPY_MAX_DIMS];
    size_t count; /* product of shape */
    const unsigned char *data;
    size_t nbytes; /* == count * itemsize */
};

/* True when buf starts with the .npy magic "\x93NUMPY". */
int mf_npy_is(const void *buf, size_t len);

/* Parse and validate a whole .npy file held in buf[0..len). Returns 0, or
 * ENC_EFORMAT with a message naming the problem and its header column
 * (ENC_EUNSUPPORTED for valid files Encore cannot use: object dtype,
 * complex, ...). `out->data` points into buf. */
int mf_npy_parse(const void *buf, size_t len, struct mf_npy *out, enc_err *err);

/* Element i of an integer or float array ('i', 'u', 'f'; itemsize <= 8) as
 * its bytes in host order, in the low bits of the result (byte order
 * handled; the caller reinterprets them: memcpy into a float / double, or
 * sign-extend an 'i'). */
uint64_t mf_npy_raw(const struct mf_npy *a, size_t i);

#endif

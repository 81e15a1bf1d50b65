/* fastrnn's C engine: every exported prototype.
 *
 * Plain C99, no Python.h: kernels take raw contiguous buffers and sizes, return
 * a status code, and never print, exit or allocate.
 */
#ifndef FASTRNN_H
#define FASTRNN_H

#define FASTRNN_OK 0
#define FASTRNN_EINVAL (-1)

/* Version of the kernel ABI, checked by the Cython layer at import. */
int fastrnn_abi_version(void);

#endif

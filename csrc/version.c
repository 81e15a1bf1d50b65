/* The kernel ABI version, so the Cython layer can refuse a stale build. */
#include "fastrnn.h"

int fastrnn_abi_version(void) { return 3; }

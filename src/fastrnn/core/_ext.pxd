# The C engine's interface, declared from csrc/fastrnn.h (the one statement of it; the
# C compiler checks these names against the header, tests/test_c_boundary.py checks
# that every field of the structs is declared here).

from libc.stdint cimport int64_t

cdef extern from "fastrnn.h" nogil:
    int FASTRNN_ABI_VERSION
    int FASTRNN_OK
    int FASTRNN_EINVAL
    int FASTRNN_EISA
    int FASTRNN_EINTR
    int FASTRNN_SRN
    int FASTRNN_LSTM
    int FASTRNN_GRU
    int FASTRNN_FORWARD
    int FASTRNN_BACKWARD
    int FASTRNN_TANH
    int FASTRNN_RELU
    int FASTRNN_SIGMOID
    int FASTRNN_ISA_AUTO
    int FASTRNN_ISA_GENERIC
    int FASTRNN_ISA_AVX2
    int FASTRNN_ISA_AVX512
    int FASTRNN_CHUNK_STEPS

    ctypedef struct fastrnn_ctx:
        int isa
        int num_threads
        volatile int *interrupt

    ctypedef struct fastrnn_rnn:
        int cell, nonlinearity, residual, reset_after, reverse
        int steps, batch, input_size, hidden_size
        const int64_t *lengths
        const void *W_ih
        const void *W_hh
        const void *b_ih
        const void *b_hh
        const void *packed
        size_t packed_size
        const void *x
        const void *h0
        const void *c0
        void *y
        void *hT
        void *cT
        void *hs
        void *cs
        void *gates
        void *aux
        const void *dy
        const void *dhT
        const void *dcT
        void *dx
        void *dh0
        void *dc0
        void *dW_ih
        void *dW_hh
        void *db_ih
        void *db_hh
        void *trace_dh
        void *trace_dc
        int proj_size
        const void *W_hr
        void *dW_hr
        const void *mask_x
        const void *mask_h
        const void *zone_h
        const void *zone_c
        void *ws
        size_t ws_size

    int fastrnn_abi_version()
    int fastrnn_best_isa()
    int fastrnn_isa_available(int isa)
    int fastrnn_gates(int cell)
    size_t fastrnn_workspace_size(const fastrnn_rnn *a, int pass_, const fastrnn_ctx *ctx)
    size_t fastrnn_packed_size(const fastrnn_rnn *a, const fastrnn_ctx *ctx)
    int fastrnn_pack_f32(const fastrnn_rnn *a, void *packed, size_t size, const fastrnn_ctx *ctx)
    int fastrnn_pack_f64(const fastrnn_rnn *a, void *packed, size_t size, const fastrnn_ctx *ctx)
    int fastrnn_forward_f32(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx)
    int fastrnn_forward_f64(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx)
    int fastrnn_backward_f32(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx)
    int fastrnn_backward_f64(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx)
    int fastrnn_set_num_threads(int n)
    int fastrnn_get_num_threads()
    int fastrnn_pool_size()
    int fastrnn_pool_stalls()
    int fastrnn_sigint_watch(volatile int *flag)
    void fastrnn_sigint_unwatch()

    int fastrnn_vmath_f32(float *out, const float *inp, size_t n, int f, int isa)
    int fastrnn_vmath_f64(double *out, const double *inp, size_t n, int f, int isa)
    size_t fastrnn_rgemm_ws(int K, int Nc)
    int fastrnn_rgemm_f32(float *C, int ldc, float *ws, const float *A, int lda,
                          const float *B, int trans_b, int beta, int M, int Nc, int K, int isa)
    int fastrnn_rgemm_f64(double *C, int ldc, double *ws, const double *A, int lda,
                          const double *B, int trans_b, int beta, int M, int Nc, int K,
                          int isa)

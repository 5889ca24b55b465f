#include "CMPI.h"
#include <limits.h>
#include <mpi.h>
#include <stdio.h>

// Enough for one request per parameter blob of any real net plus the chunks of huge ones;
// a caller that would pass it is told so (MPI_ERR_NO_MEM) and waits first.
#define CMPI_MAX_PENDING 8192
static MPI_Request pending[CMPI_MAX_PENDING];
static int pending_count = 0;
// Large arrays go in chunks that fit MPI's int counts.
static const int64_t chunk = INT_MAX / 2;

int cmpi_init(int *rank, int *size) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int provided = 0;
        int code = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
        if (code != MPI_SUCCESS) return code;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int cmpi_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    return finalized ? MPI_SUCCESS : MPI_Finalize();
}

void cmpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void cmpi_error_string(int code, char *buffer, int capacity) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = snprintf(text, sizeof text, "MPI error %d", code);
    snprintf(buffer, (size_t)capacity, "%.*s", length, text);
}

static MPI_Request *next_request(void) {
    return pending_count < CMPI_MAX_PENDING ? &pending[pending_count++] : NULL;
}

int cmpi_start_sum_floats(float *values, int64_t count) {
    for (int64_t offset = 0; offset < count; offset += chunk) {
        MPI_Request *request = next_request();
        if (!request) return MPI_ERR_NO_MEM;
        int n = (int)(count - offset < chunk ? count - offset : chunk);
        int code = MPI_Iallreduce(MPI_IN_PLACE, values + offset, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, request);
        if (code != MPI_SUCCESS) { pending_count--; return code; }
    }
    return MPI_SUCCESS;
}

int cmpi_start_sum_doubles(double *values, int count) {
    MPI_Request *request = next_request();
    if (!request) return MPI_ERR_NO_MEM;
    int code = MPI_Iallreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, request);
    if (code != MPI_SUCCESS) pending_count--;
    return code;
}

int cmpi_start_broadcast(void *bytes, int64_t count, int root) {
    for (int64_t offset = 0; offset < count; offset += chunk) {
        MPI_Request *request = next_request();
        if (!request) return MPI_ERR_NO_MEM;
        int n = (int)(count - offset < chunk ? count - offset : chunk);
        int code = MPI_Ibcast((char *)bytes + offset, n, MPI_BYTE, root, MPI_COMM_WORLD, request);
        if (code != MPI_SUCCESS) { pending_count--; return code; }
    }
    return MPI_SUCCESS;
}

int cmpi_start_gather(uint64_t value, uint64_t *all) {
    static uint64_t sent;  // must outlive the operation; one gather at a time
    sent = value;
    MPI_Request *request = next_request();
    if (!request) return MPI_ERR_NO_MEM;
    int code = MPI_Iallgather(&sent, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD, request);
    if (code != MPI_SUCCESS) pending_count--;
    return code;
}

int cmpi_test_pending(int *done) {
    *done = 1;
    if (pending_count == 0) return MPI_SUCCESS;
    int flag = 0;
    int code = MPI_Testall(pending_count, pending, &flag, MPI_STATUSES_IGNORE);
    if (code != MPI_SUCCESS) return code;
    if (flag) pending_count = 0; else *done = 0;
    return MPI_SUCCESS;
}

// A small C face for MPI that Swift can import. Open MPI's handles (MPI_COMM_WORLD,
// MPI_FLOAT, MPI_SUM, ...) are macros over the addresses of its globals, which Swift
// cannot import; these functions take plain C types instead. Every function returns an MPI
// error code (0 = success); the communicator is always MPI_COMM_WORLD, whose error handler
// is set to return codes instead of aborting, so the caller can name what failed.
//
// Non-blocking operations are kept in one pending set: `cmpi_test_pending` moves them along
// (MPI progresses a non-blocking collective only inside MPI calls) and says when all are
// done. One thread at a time may call these functions (MPI_THREAD_SERIALIZED).
#ifndef CMPI_H
#define CMPI_H

#include <stddef.h>
#include <stdint.h>

/// Initialises MPI if needed and returns this process's rank and the number of ranks.
int cmpi_init(int *rank, int *size);
/// Ends MPI (once, at exit).
int cmpi_finalize(void);
/// Ends every rank of the job with `code` (for a rank that cannot go on).
void cmpi_abort(int code);
/// The text of an MPI error code, into `buffer`.
void cmpi_error_string(int code, char *buffer, int capacity);

/// Starts summing `count` floats in place over all ranks.
int cmpi_start_sum_floats(float *values, int64_t count);
/// Starts summing `count` doubles in place over all ranks.
int cmpi_start_sum_doubles(double *values, int count);
/// Starts copying `count` bytes from rank `root` to every other rank.
int cmpi_start_broadcast(void *bytes, int64_t count, int root);
/// Starts gathering one 64-bit value from every rank into `all` (one per rank).
int cmpi_start_gather(uint64_t value, uint64_t *all);
/// Moves the pending operations along; sets `done` to 1 when all of them have finished
/// (and forgets them), else 0.
int cmpi_test_pending(int *done);

#endif

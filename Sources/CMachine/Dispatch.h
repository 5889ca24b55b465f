#ifndef SWIFTCAFFE_DISPATCH_H
#define SWIFTCAFFE_DISPATCH_H

#include "CMachine.h"

// Calls name_avx512, name_avx2 or name_base with the arguments, by what the CPU runs
// (swiftcaffe_vector_level): the files that use it build each loop three times, with target
// attributes, so that the compiler may use the wider instructions in those functions alone.
#if defined(__x86_64__)
#define DISPATCH(name, ...)                     \
    switch (swiftcaffe_vector_level()) {        \
    case 2: name##_avx512(__VA_ARGS__); return; \
    case 1: name##_avx2(__VA_ARGS__); return;   \
    default: name##_base(__VA_ARGS__); return;  \
    }
#else
#define DISPATCH(name, ...) name##_base(__VA_ARGS__)
#endif

#endif

#include "CMachine.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

void swiftcaffe_flush_denormals_to_zero(void) {
    // Bit 15: flush-to-zero for results; bit 6: denormals-are-zero for inputs.
    _mm_setcsr(_mm_getcsr() | 0x8040);
}
#else
void swiftcaffe_flush_denormals_to_zero(void) {}
#endif

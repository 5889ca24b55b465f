#ifndef SWIFTCAFFE_MACHINE_H
#define SWIFTCAFFE_MACHINE_H

/// Makes the calling thread flush denormal floats to zero (results and inputs: SSE's FTZ and
/// DAZ bits). Denormals appear as a net trains (tiny probabilities, decaying momentum) and
/// make every multiply that touches them about a hundred times slower on x86.
/// Does nothing on other processors.
void swiftcaffe_flush_denormals_to_zero(void);

/// The widest x86 vector instruction set this CPU runs and the operating system enables:
/// 2 for AVX-512 (F, CD, BW, DQ and VL, the set OpenBLAS's SkylakeX kernels use), 1 for AVX2
/// with FMA (its Haswell kernels), 0 for less or for another processor.
int swiftcaffe_vector_level(void);

#endif

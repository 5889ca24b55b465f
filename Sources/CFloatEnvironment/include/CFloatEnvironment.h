#ifndef SWIFTCAFFE_FLOAT_ENVIRONMENT_H
#define SWIFTCAFFE_FLOAT_ENVIRONMENT_H

/// Makes the calling thread flush denormal floats to zero (results and inputs: SSE's FTZ and
/// DAZ bits). Denormals appear as a net trains (tiny probabilities, decaying momentum) and
/// make every multiply that touches them about a hundred times slower on x86.
/// Does nothing on other processors.
void swiftcaffe_flush_denormals_to_zero(void);

#endif

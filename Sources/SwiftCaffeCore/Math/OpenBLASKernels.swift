import CBLAS
import CMachine
import Foundation

/// Which kernels OpenBLAS runs, and a way to give it better ones on CPUs newer than it.
///
/// OpenBLAS picks its kernels by CPU model when it loads. One older than the CPU (Debian 12's
/// 0.3.21 on Intel's Xeons of 2023 and later, model 207 among them) does not know the model
/// and falls back to its generic SSE3 kernels, "Prescott", which train LeNet and a BatchNorm
/// conv net about half as fast as the AVX-512 kernels the CPU can run (docs/performance.md,
/// "OpenBLAS kernels"). The kernels
/// can only be chosen before OpenBLAS loads, through `OPENBLAS_CORETYPE`; so the command
/// line, first thing, restarts itself (`LibraryEnvironment`) with that variable set when OpenBLAS fell back and
/// the CPU (and the operating system) support a better kernel: SkylakeX with AVX-512 F, CD,
/// BW, DQ and VL, Haswell with AVX2 and FMA. A CPU without those instructions never gets
/// them; a variable set by the user is always kept (`OPENBLAS_CORETYPE=Prescott` keeps the
/// fallback).
public enum OpenBLASKernels {
    /// The kernels OpenBLAS runs in this process ("Prescott", "SkylakeX", "Haswell", ...).
    public static var current: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// The kernels to ask for instead of the ones running, or nil when they are already the
    /// best this CPU supports, or the user chose them.
    public static var better: String? {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, current.lowercased() == "prescott" else { return nil }
        switch swiftcaffe_vector_level() {
        case 2: return "SkylakeX"
        case 1: return "Haswell"
        default: return nil
        }
    }
}

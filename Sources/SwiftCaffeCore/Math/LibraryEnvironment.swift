import Foundation

/// Settings that libraries read from the environment once, when they load, before `main`
/// runs: the only way to change them is to restart the process with them set. The command
/// line calls `restartIfNeeded()` first thing; a package with its own `main` may do the same.
///
/// - `OPENBLAS_CORETYPE`: OpenBLAS's kernels, when it fell back to slow ones on a CPU newer
///   than itself (`OpenBLASKernels.better`).
/// - `OMP_WAIT_POLICY=PASSIVE`: oneDNN's OpenMP threads (libgomp) otherwise spin after each
///   convolution, taking the cores from SwiftCaffe's own kernels until the next one.
///   Measured on fashion_bn training (3 alternating runs of `train --max-iter 150`): 2,493
///   images/s passive against 2,089 spinning; ResNet-50 inference unchanged (43.7 against
///   44.5 ms).
///
/// A variable the user set is always kept.
public enum LibraryEnvironment {
    /// The variables to set, or empty when the process already runs with them.
    public static var wanted: [(name: String, value: String)] {
        var result: [(String, String)] = []
        if let kernels = OpenBLASKernels.better { result.append(("OPENBLAS_CORETYPE", kernels)) }
        if ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] == nil { result.append(("OMP_WAIT_POLICY", "PASSIVE")) }
        return result
    }

    /// Replaces this process with itself, same arguments, with the `wanted` variables set;
    /// returns (changing nothing) when there are none or the restart fails. Call it first
    /// thing in `main`, before any thread or MPI starts.
    public static func restartIfNeeded() {
        let variables = wanted
        guard !variables.isEmpty else { return }
        for (name, value) in variables { setenv(name, value, 1) }
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        for (name, _) in variables { unsetenv(name) }  // exec failed: carry on as we are
    }
}

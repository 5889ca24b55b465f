import SwiftCaffe
import SwiftCaffeCLI

// OpenBLAS older than the CPU falls back to slow kernels; this restarts with the fast ones
// the CPU supports (see OpenBLASKernels). A package with its own layers may do the same.
OpenBLASKernels.restartWithBetterKernels()
SwiftCaffeCommand.main()

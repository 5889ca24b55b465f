import SwiftCaffe
import SwiftCaffeCLI

// Settings OpenBLAS and OpenMP read only when they load (fast kernels on a CPU newer than
// OpenBLAS, OpenMP threads that sleep rather than spin): this restarts with them set when
// needed (see LibraryEnvironment). A package with its own layers may do the same.
LibraryEnvironment.restartIfNeeded()
SwiftCaffeCommand.main()

import CaffeInterop
import ONNXInterop
import SwiftCaffe

// As `swiftcaffe` starts (see LibraryEnvironment): OpenBLAS and OpenMP read their settings
// only when they load.
LibraryEnvironment.restartIfNeeded()
ServeCommand.main()

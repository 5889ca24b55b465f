import CaffeInterop
import ONNXInterop
import SwiftCaffe

// As `swiftcaffe` starts (see LibraryEnvironment): OpenBLAS and OpenMP read their settings
// only when they load.
LibraryEnvironment.restartIfNeeded()
// The program of `swiftcaffe serve` (its arguments as they are) and `swiftcaffe board`
// (`swiftcaffe-serve board ...`).
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "board" {
    BoardCommand.main(Array(arguments.dropFirst()))
} else {
    ServeCommand.main()
}

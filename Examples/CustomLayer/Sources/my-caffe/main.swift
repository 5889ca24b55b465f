import CustomLayers
import SwiftCaffe
import SwiftCaffeCLI

// Every swiftcaffe subcommand, with the ScaledTanh layer available to net files; first, as
// swiftcaffe does, OpenBLAS's fast kernels where it fell back to slow ones (OpenBLASKernels).
OpenBLASKernels.restartWithBetterKernels()
registerCustomLayers()
SwiftCaffeCommand.main()

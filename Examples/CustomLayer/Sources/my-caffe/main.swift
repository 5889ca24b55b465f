import CustomLayers
import SwiftCaffe
import SwiftCaffeCLI

// Every swiftcaffe subcommand, with the ScaledTanh layer available to net files; first, as
// swiftcaffe does, the settings libraries read when they load (LibraryEnvironment).
LibraryEnvironment.restartIfNeeded()
registerCustomLayers()
SwiftCaffeCommand.main()

import CustomLayers
import SwiftCaffeCLI

// Every swiftcaffe subcommand, with the ScaledTanh layer available to net files.
registerCustomLayers()
SwiftCaffeCommand.main()

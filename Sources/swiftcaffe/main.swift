import SwiftCaffeCLI

SwiftCaffeCommand.main()

import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// Damaged versions of a valid net file must build or fail with a SwiftCaffeError; a crash
/// here would take the test process down, so passing means none of them crashed.
@Suite struct MalformedFileTests {
    /// Caffe's formats, as the command line has them.
    init() { CaffeFormats.register() }

    static let valid = """
    name: small
    layers:
      - {name: in, type: Input, top: [data, label], shape: [[2, 1, 8, 8], [2]]}
      - name: conv
        type: Convolution
        bottom: data
        top: conv
        num_output: 3
        kernel_size: 3
        pad: 1
        weight_filler: {type: gaussian, std: 0.1}
        param: [{lr_mult: 1}, {lr_mult: 2}]
      - {name: relu, type: ReLU, bottom: conv, top: conv}
      - {name: pool, type: Pooling, bottom: conv, top: pool, pool: MAX, kernel_size: 2, stride: 2}
      - {name: ip, type: InnerProduct, bottom: pool, top: ip, num_output: 4, weight_filler: xavier}
      - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
    solver: {base_lr: 0.1, lr_policy: step, stepsize: 10, max_iter: 5}
    """

    @Test func everySingleCharacterEditFailsCleanly() throws {
        let characters = Array(Self.valid)
        let replacements: [Character] = ["[", "]", "{", "}", ":", ",", "-", " ", "\n", "\t", "#", "&", "*", "!", "'", "\"", "0", "9", "x"]
        var rng = RandomGenerator(seed: 2024)
        var built = 0, rejected = 0
        for _ in 0..<600 {
            var edited = characters
            let position = Int(rng.next() % UInt64(edited.count))
            switch rng.next() % 3 {
            case 0: edited.remove(at: position)
            case 1: edited[position] = replacements[Int(rng.next() % UInt64(replacements.count))]
            default: edited.insert(replacements[Int(rng.next() % UInt64(replacements.count))], at: position)
            }
            do {
                let spec = try NetSpec.parse(String(edited), file: "edited.yaml")
                _ = try Net(spec: spec, phase: .train)
                built += 1
            } catch let error as SwiftCaffeError {
                // Every error says where: at least the file, except for shape errors found
                // after parsing, which name their layer.
                #expect(error.location != nil || error.layer != nil, "\(error)")
                rejected += 1
            }
        }
        #expect(built + rejected == 600)
        #expect(rejected > 100)  // most single edits break something
    }
}

import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// The vectorised exp, sigmoid and tanh against Double's, across the whole range and at the
/// edges, including a count that is not a multiple of the eight lanes.
@Suite struct VectorMathTests {
    /// 20,003 values from −100 to 100, then the edges.
    static let inputs: [Float] = (0...20_002).map { -100 + Float($0) * 0.01 } + [0, -0, 1e-8, -1e-8, 88.3, -87.3, 89, -88, .infinity, -.infinity]

    func apply(_ function: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> [Float] {
        var output = [Float](repeating: 0, count: Self.inputs.count)
        Self.inputs.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { function(input.baseAddress!, $0.baseAddress!, Self.inputs.count) }
        }
        return output
    }

    @Test func expIsWithinTwoUlp() {
        let output = apply { VectorMath.exp($0, into: $1, count: $2) }
        for (x, y) in zip(Self.inputs, output) {
            let truth = Foundation.exp(Double(x))
            if x > 88.37626 {
                #expect(y > 2.4e38 && y.isFinite, "exp(\(x)) = \(y) saturates")
            } else if x < -87.33654 {
                #expect(y > 0 && y < 1.2e-38, "exp(\(x)) = \(y) saturates")
            } else {
                // 2 ulp, the ulp of a normal Float v being at most v·2⁻²³ (computed in Double:
                // tests may run on a thread that flushes Float denormals, such as ulp(1e-38), to 0).
                #expect(abs(Double(y) - truth) <= 2 * truth * 0x1p-23, "exp(\(x)) = \(y), truth \(truth)")
            }
        }
    }

    /// sigmoid within 1e-7 (absolute), tanh within 2e-7 (3 ulp of 1), as VectorMath documents;
    /// SiLU, x·σ(x), within what σ's bound gives it: 1e-7·|x|, plus the rounding of its last
    /// operation (half an ulp, 2⁻²⁴ of the result).
    @Test func sigmoidTanhAndSiLUAreAccurate() {
        let sigmoid = apply { VectorMath.sigmoid($0, into: $1, count: $2) }
        let tanh = apply { VectorMath.tanh($0, into: $1, count: $2) }
        let silu = apply { VectorMath.silu($0, into: $1, count: $2) }
        for (index, x) in Self.inputs.enumerated() {
            #expect(abs(Double(sigmoid[index]) - 1 / (1 + Foundation.exp(-Double(x)))) < 1e-7, "σ(\(x)) = \(sigmoid[index])")
            #expect(abs(Double(tanh[index]) - Foundation.tanh(Double(x))) < 2e-7, "tanh(\(x)) = \(tanh[index])")
            guard x.isFinite else { continue }
            let truth = Double(x) / (1 + Foundation.exp(-Double(x)))
            #expect(abs(Double(silu[index]) - truth) <= 1e-7 * abs(Double(x)) + abs(truth) * 0x1p-24, "silu(\(x)) = \(silu[index]), truth \(truth)")
        }
        #expect(tanh[Self.inputs.count - 2] == 1 && tanh[Self.inputs.count - 1] == -1)
    }

    @Test func notANumberStaysNotANumber() {
        for function in [VectorMath.tanh, VectorMath.sigmoid, VectorMath.silu, VectorMath.exp] {
            var values: [Float] = [1, .nan, 2]
            values.withUnsafeMutableBufferPointer { function($0.baseAddress!, $0.baseAddress!, 3) }
            #expect(values[1].isNaN && !values[0].isNaN && !values[2].isNaN)
        }
    }
}

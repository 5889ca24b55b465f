import Foundation

/// Softmax along the middle axis of an outer × channels × inner array, with the maximum
/// subtracted first so large scores cannot overflow.
package func softmax(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, outer: Int, channels: Int, inner: Int) {
    for o in 0..<outer {
        let x = input + o * channels * inner, y = output + o * channels * inner
        for i in 0..<inner {
            var maximum = -Float.infinity
            for c in 0..<channels { maximum = max(maximum, x[c * inner + i]) }
            var sum: Float = 0
            for c in 0..<channels {
                let e = expf(x[c * inner + i] - maximum)
                y[c * inner + i] = e
                sum += e
            }
            let scale = 1 / sum
            for c in 0..<channels { y[c * inner + i] *= scale }
        }
    }
}

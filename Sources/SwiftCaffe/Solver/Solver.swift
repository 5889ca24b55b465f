import Foundation
import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeSpec

/// Applies one update to a net's parameters from their gradients at the learning rate its
/// schedule gives for the iteration (`rate(at:)`, `LearningRatePolicy.swift`), with Caffe's
/// order of steps:
/// scale by 1/`iter_size` (and 1/ranks in data-parallel training), clip to a global L2 norm
/// (`clip_gradients`), add the L2 or L1 weight-decay term (per parameter × `decay_mult`), then
/// the rule of `type` with the learning rate × `lr_mult`. Parameters with `lr_mult: 0` are frozen. The diffs are zeroed as they are
/// consumed, ready for the next iteration's backward passes to accumulate into.
///
/// The rules, with g the regularised gradient, lr the local rate and h, s the history buffers:
///
///     SGD       h ← μh + lr·g;               w ← w − h
///     Nesterov  h' ← μh + lr·g;              w ← w − ((1+μ)h' − μh)
///     AdaGrad   h ← h + g²;                   w ← w − lr·g / (√h + δ)
///     RMSProp   h ← ρh + (1−ρ)g²;             w ← w − lr·g / (√h + δ)
///     AdaDelta  h ← μh + (1−μ)g²;  u = g·√((s+δ)/(h+δ));  s ← μs + (1−μ)u²;  w ← w − lr·u
///     Adam      h ← β₁h + (1−β₁)g;  s ← β₂s + (1−β₂)g²;  w ← w − lr·√(1−β₂ᵗ)/(1−β₁ᵗ)·h/(√s + δ)
///     AdamW     w ← w − lr·λ·w (decoupled decay, as PyTorch), then Adam on the unregularised gradient
///
/// (μ = `momentum`, ρ = `rms_decay`, β₁ = `momentum`, β₂ = `momentum2`, δ = `delta`, t = the
/// iteration counting from 1.)
public final class Solver {
    public let spec: SolverSpec
    public let parameters: [LearnableParameter]
    /// The run's length, which the `poly` and `cosine` schedules decay towards.
    public let maxIter: Int
    /// History buffers: one per parameter for SGD, Nesterov, AdaGrad and RMSProp, two for
    /// AdaDelta, Adam and AdamW. Saved in snapshots.
    public private(set) var history: [[Blob]]
    /// Data-parallel training: the gradients arrive summed over this many ranks, and the
    /// update divides by it (as Caffe's multi-GPU solvers do), so N ranks × batch B update
    /// as one process × batch N·B.
    public var ranks = 1

    public init(spec: SolverSpec, parameters: [LearnableParameter], maxIter: Int) {
        self.spec = spec
        self.parameters = parameters
        self.maxIter = maxIter
        let buffers = spec.type.historyCount
        history = parameters.map { parameter in
            (0..<buffers).map { Blob(name: "\(parameter.name).history\($0)", shape: parameter.blob.shape) }
        }
    }

    /// The global L2 norm of all gradients.
    public func gradientNorm() -> Double {
        var total: Double = 0
        for parameter in parameters where parameter.lrMult > 0 {
            let g = parameter.blob.diff
            var partial: Double = 0
            for i in 0..<parameter.blob.count { partial += Double(g[i]) * Double(g[i]) }
            total += partial
        }
        return total.squareRoot()
    }

    /// Updates every parameter from its accumulated diff at the scheduled rate, which it
    /// returns. `iteration` counts from 0. `observer`, if given, is called with each
    /// parameter's index just before its update (`true`) and just after it (`false`): a
    /// monitor measures one parameter's update at a time, with a copy of that one only.
    @discardableResult
    public func update(iteration: Int, observer: ((_ index: Int, _ before: Bool) -> Void)? = nil) -> Float {
        let rate = rate(at: iteration)
        var scale: Float = spec.iterSize * ranks > 1 ? 1 / Float(spec.iterSize * ranks) : 1
        if spec.clipGradients > 0 {
            let norm = Float(gradientNorm()) * scale
            if norm > spec.clipGradients { scale *= spec.clipGradients / norm }
        }
        let t = Float(iteration + 1)
        let adamCorrection = spec.type == .adam || spec.type == .adamW
            ? (1 - powf(spec.momentum2, t)).squareRoot() / (1 - powf(spec.momentum, t)) : 1
        for (index, (parameter, buffers)) in zip(parameters, history).enumerated() {
            observer?(index, true)
            defer { observer?(index, false) }
            guard parameter.lrMult > 0 else {
                parameter.blob.zeroDiff()
                continue
            }
            let w = parameter.blob.data, g = parameter.blob.diff
            let h = buffers[0].data, s = buffers.count > 1 ? buffers[1].data : buffers[0].data
            let decay = spec.weightDecay * parameter.decayMult
            let lr = rate * parameter.lrMult
            let rule = spec.type, decoupled = rule == .adamW
            // The weight-decay factor of each kind (0 for the kinds not in use).
            let l2: Float = decoupled || spec.regularization == .l1 ? 0 : decay
            let l1: Float = !decoupled && spec.regularization == .l1 ? decay : 0
            let mu = spec.momentum, mu2 = spec.momentum2, rho = spec.rmsDecay, delta = spec.delta
            Parallel.forChunks(of: parameter.blob.count, minimumPerChunk: 1 << 15) { _, range in
                /// The scaled, regularised gradient of element i; reading it also zeroes it
                /// for the next iteration (the solver's job, done here to save a pass).
                /// Branch-free, so that the loops vectorise.
                @inline(__always) func take(_ i: Int) -> Float {
                    let x = w[i]
                    let gradient = g[i] * scale + l2 * x + l1 * ((x > 0 ? 1 : 0) - (x < 0 ? 1 : 0))
                    g[i] = 0
                    return gradient
                }
                // One loop per rule, so that no element pays for choosing it.
                switch rule {
                case .sgd:
                    for i in range {
                        h[i] = mu * h[i] + lr * take(i)
                        w[i] -= h[i]
                    }
                case .nesterov:
                    for i in range {
                        let previous = h[i]
                        h[i] = mu * h[i] + lr * take(i)
                        w[i] -= (1 + mu) * h[i] - mu * previous
                    }
                case .adaGrad:
                    for i in range {
                        let gradient = take(i)
                        h[i] += gradient * gradient
                        w[i] -= lr * gradient / (h[i].squareRoot() + delta)
                    }
                case .rmsProp:
                    for i in range {
                        let gradient = take(i)
                        h[i] = rho * h[i] + (1 - rho) * gradient * gradient
                        w[i] -= lr * gradient / (h[i].squareRoot() + delta)
                    }
                case .adaDelta:
                    for i in range {
                        let gradient = take(i)
                        h[i] = mu * h[i] + (1 - mu) * gradient * gradient
                        let step = gradient * ((s[i] + delta) / (h[i] + delta)).squareRoot()
                        s[i] = mu * s[i] + (1 - mu) * step * step
                        w[i] -= lr * step
                    }
                case .adam, .adamW:
                    for i in range {
                        if decoupled { w[i] -= lr * decay * w[i] }  // first, as PyTorch's AdamW
                        let gradient = take(i)
                        h[i] = mu * h[i] + (1 - mu) * gradient
                        s[i] = mu2 * s[i] + (1 - mu2) * gradient * gradient
                        w[i] -= lr * adamCorrection * h[i] / (s[i].squareRoot() + delta)
                    }
                }
            }
        }
        return rate
    }
}

extension Solver {
    /// The history buffers as named arrays (`<param>.history<k>`), for the solver-state file.
    func historyArrays() -> [(name: String, shape: [Int], values: [Float])] {
        zip(parameters, history).flatMap { parameter, buffers in
            buffers.enumerated().map { ("\(parameter.name).history\($0)", $1.shape, $1.dataArray) }
        }
    }

    /// Restores the buffers `historyArrays()` saved; returns the name of the first one that is
    /// missing or has another shape (the file is from another net), nil on success.
    func restoreHistory(from tensors: [String: Safetensors.Tensor]) -> String? {
        for (parameter, buffers) in zip(parameters, history) {
            for (index, buffer) in buffers.enumerated() {
                let name = "\(parameter.name).history\(index)"
                guard let tensor = tensors[name], tensor.shape == buffer.shape else { return name }
                buffer.setData(tensor.values)
            }
        }
        return nil
    }
}

import Foundation

extension SolverSpec {
    /// The learning rate at `iteration`, with Caffe's formulas for each `lr_policy`:
    /// fixed: base; step: base·γ^⌊it/stepsize⌋; multistep: base·γ^(steps passed);
    /// exp: base·γ^it; inv: base·(1+γ·it)^−power; poly: base·(1−it/max_iter)^power;
    /// sigmoid: base/(1+e^(−γ·(it−stepsize))); cosine: base·½(1+cos(π·it/max_iter)).
    /// With `warmup_iter`, the rate is scaled by (it+1)/warmup_iter until the warm-up ends.
    public func learningRate(at iteration: Int, maxIter: Int) -> Float {
        let it = Double(iteration), base = Double(baseLR), g = Double(gamma), p = Double(power)
        let rate: Double = switch lrPolicy {
        case .fixed: base
        case .step: base * pow(g, floor(it / Double(stepSize)))
        case .multistep: base * pow(g, Double(stepValues.filter { $0 <= iteration }.count))
        case .exp: base * pow(g, it)
        case .inv: base * pow(1 + g * it, -p)
        case .poly: base * pow(max(0, 1 - it / Double(maxIter)), p)
        case .sigmoid: base / (1 + exp(-g * (it - Double(stepSize))))
        case .cosine: base * 0.5 * (1 + cos(Double.pi * min(it, Double(maxIter)) / Double(maxIter)))
        }
        let warmup = warmupIter > 0 ? min(1, (it + 1) / Double(warmupIter)) : 1
        return Float(rate * warmup)
    }
}

import Foundation

extension Solver {
    /// The learning rate at `iteration`, with Caffe's formulas for each `lr_policy`:
    /// fixed: base; step: base·γ^⌊it/stepsize⌋; multistep: base·γ^(steps passed);
    /// exp: base·γ^it; inv: base·(1+γ·it)^−power; poly: base·(1−it/max_iter)^power;
    /// sigmoid: base/(1+e^(−γ·(it−stepsize))); cosine: base·½(1+cos(π·it/max_iter)).
    /// With `warmup_iter`, the rate is scaled by (it+1)/warmup_iter until the warm-up ends.
    public func rate(at iteration: Int) -> Float {
        let spec = spec, maxIter = maxIter
        let it = Double(iteration), base = Double(spec.baseLR), g = Double(spec.gamma), p = Double(spec.power)
        let rate: Double = switch spec.lrPolicy {
        case .fixed: base
        case .step: base * pow(g, floor(it / Double(spec.stepSize)))
        case .multistep: base * pow(g, Double(spec.stepValues.filter { $0 <= iteration }.count))
        case .exp: base * pow(g, it)
        case .inv: base * pow(1 + g * it, -p)
        case .poly: base * pow(max(0, 1 - it / Double(maxIter)), p)
        case .sigmoid: base / (1 + exp(-g * (it - Double(spec.stepSize))))
        case .cosine: base * 0.5 * (1 + cos(Double.pi * min(it, Double(maxIter)) / Double(maxIter)))
        }
        let warmup = spec.warmupIter > 0 ? min(1, (it + 1) / Double(spec.warmupIter)) : 1
        return Float(rate * warmup)
    }
}

import SwiftCaffeCore

/// Forward-mode differentiation, a capability every built-in layer that computes from its
/// bottoms adopts (a test holds them to it) and a custom layer may.
///
/// Reverse mode (`backward`) carries a gradient from the tops to the bottoms: Jᵀ·w. Forward
/// mode carries a tangent, a direction in the inputs, from the bottoms to the tops alongside
/// the forward pass: J·v, the derivative of every top along v. Having both gives an exact
/// check of backward with no finite-difference step: ⟨J·v, w⟩ = ⟨v, Jᵀ·w⟩ for any v and w
/// (`AdjointCheck`), and directional derivatives for users.
///
/// A layer without this capability still works everywhere else; tools that need tangents
/// report it as not supporting them.
public protocol TangentLayer: Layer {
    /// Writes each top's tangent into `topTangent[i].data` (shaped like `top[i]`), from the
    /// bottoms' values (`bottom`), their tangents (`bottomTangent[i].data`, shaped like
    /// `bottom[i]`; zeros for a bottom held fixed, such as labels) and, unless nil, the
    /// parameters' tangents (shaped like `params`; nil holds the parameters fixed).
    ///
    /// It runs after `forward` on the same bottoms, so it may read what forward kept (an
    /// argmax, normalised values) and the tops' values. When the layer runs in place, each
    /// top is its bottom and each top tangent its bottom tangent, as in `backward`.
    func forwardTangent(bottom: [Blob], bottomTangent: [Blob], top: [Blob], topTangent: [Blob], parameterTangent: [Blob]?)
}

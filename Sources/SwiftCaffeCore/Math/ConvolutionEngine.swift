import CConvolution
import Foundation

/// A convolution of one shape run by oneDNN (Intel's Deep Neural Network Library, Debian's
/// `libdnnl-dev`), the engine behind PyTorch's and ONNX Runtime's CPU convolutions.
///
/// oneDNN runs convolutions directly on blocked layouts (16 channels side by side for AVX-512)
/// with kernels it generates for the CPU it finds, where im2col + GEMM first copies every input
/// value kh·kw times. Measured on this project's deploy nets it runs 1.5-2.3 times the im2col
/// path's speed (docs/performance.md, "Convolution engine"). The layout stays inside: each call
/// reorders the N×C×H×W input in and the output back out, so a layer's blobs are what the rest
/// of the net expects. Weights are reordered by `setWeights`: an inference net's layer does so
/// once (until `parametersChanged`), a training net's before each forward.
///
/// `SWIFTCAFFE_CONVOLUTION=gemm` in the environment turns the engine off (every layer then runs
/// its im2col path): for comparing the two, and as the way out should oneDNN misbehave on a CPU.
/// `SWIFTCAFFE_CONVOLUTION=direct` keeps the engine but not its Winograd kernels.
public final class ConvolutionEngine {
    /// Everything the primitives are made for; a layer whose shape changes makes a new engine.
    public struct Shape: Equatable, Sendable {
        public var batch, channels, height, width, outputs, groups: Int
        public var kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW: Int
        public var outputH, outputW: Int
        /// Whether backward will be asked for.
        public var training: Bool
        /// The negative slope of a ReLU applied as the output is written, or nil for none.
        public var reluSlope: Float?
        /// Whether the input (output) blob is laid out N×H×W×C (see `ChannelsLastLayout`).
        public var inputChannelsLast = false, outputChannelsLast = false
        /// Whether forward adds the convolution to what the output holds, before the ReLU (a
        /// residual sum folded in: oneDNN's `sum` post-op).
        public var accumulates = false
        /// Bounds the output is clipped to after the ReLU, or nil (a ReLU6 folded in: oneDNN's
        /// `clip` post-op).
        public var clip: ClosedRange<Float>?
        /// Whether forward runs by Winograd's F(m, 3) where oneDNN has a kernel for the shape
        /// (inference only): about half the multiplies of a 3×3 convolution, at about twice the
        /// rounding error (1e-6 of the largest output, against 5e-7; docs/performance.md).
        public var winograd = false
        public var threads: Int

        public init(batch: Int, channels: Int, height: Int, width: Int, outputs: Int, groups: Int,
                    kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int,
                    outputH: Int, outputW: Int, training: Bool, reluSlope: Float?, threads: Int) {
            (self.batch, self.channels, self.height, self.width, self.outputs, self.groups) = (batch, channels, height, width, outputs, groups)
            (self.kernelH, self.kernelW, self.strideH, self.strideW) = (kernelH, kernelW, strideH, strideW)
            (self.padH, self.padW, self.dilationH, self.dilationW) = (padH, padW, dilationH, dilationW)
            (self.outputH, self.outputW, self.training, self.reluSlope, self.threads) = (outputH, outputW, training, reluSlope, threads)
        }

        /// Floats the engine may hold or borrow besides the blobs, an upper bound for the memory
        /// check before it exists: input and output with channels padded to 16, twice each when
        /// training (the gradients), and the weights once, or four times when training. Winograd
        /// transforms each 3×3 kernel into 6×6 values, and each 4×4 tile of input and output
        /// into 6×6 in its scratchpad.
        public var boundFloats: Double {
            func padded(_ channels: Int) -> Double { Double((channels + 15) / 16 * 16) }
            let input = Double(batch) * padded(channels) * Double(height * width)
            let output = Double(batch) * padded(outputs) * Double(outputH * outputW)
            let weights = padded(outputs) * padded(channels) * Double(winograd ? 36 : kernelH * kernelW)
            let transformed = winograd ? 2.25 * (input + output) : 0
            return training ? 2 * (input + output) + 4 * weights : input + output + weights + transformed
        }
    }

    /// Whether layers built from now on may use the engine (`SWIFTCAFFE_CONVOLUTION=gemm` says
    /// no). A task-local, so that a test can compare both paths side by side.
    @TaskLocal public static var isEnabled = ProcessInfo.processInfo.environment["SWIFTCAFFE_CONVOLUTION"]?.lowercased() != "gemm"

    /// Whether inference layers built from now on may run by Winograd (`Shape.winograd`);
    /// `SWIFTCAFFE_CONVOLUTION=direct` says no, for the direct kernels' rounding.
    @TaskLocal public static var allowsWinograd = ProcessInfo.processInfo.environment["SWIFTCAFFE_CONVOLUTION"]?.lowercased() != "direct"

    public let shape: Shape
    private let handle: OpaquePointer

    /// Makes the primitives; throws when oneDNN has none for the shape (the caller then uses
    /// its own path).
    public init(_ shape: Shape) throws {
        self.shape = shape
        var c = swiftcaffe_convolution_shape()
        (c.batch, c.channels, c.height, c.width) = (Int32(shape.batch), Int32(shape.channels), Int32(shape.height), Int32(shape.width))
        (c.outputs, c.groups, c.kernel_h, c.kernel_w) = (Int32(shape.outputs), Int32(shape.groups), Int32(shape.kernelH), Int32(shape.kernelW))
        (c.stride_h, c.stride_w, c.pad_h, c.pad_w) = (Int32(shape.strideH), Int32(shape.strideW), Int32(shape.padH), Int32(shape.padW))
        (c.dilation_h, c.dilation_w, c.output_h, c.output_w) = (Int32(shape.dilationH), Int32(shape.dilationW), Int32(shape.outputH), Int32(shape.outputW))
        (c.training, c.relu, c.relu_slope, c.threads) = (shape.training ? 1 : 0, shape.reluSlope == nil ? 0 : 1, shape.reluSlope ?? 0, Int32(shape.threads))
        (c.input_channels_last, c.output_channels_last) = (shape.inputChannelsLast ? 1 : 0, shape.outputChannelsLast ? 1 : 0)
        (c.accumulate, c.winograd) = (shape.accumulates ? 1 : 0, shape.winograd ? 1 : 0)
        (c.clip, c.clip_low, c.clip_high) = (shape.clip == nil ? 0 : 1, shape.clip?.lowerBound ?? 0, shape.clip?.upperBound ?? 0)
        var handle: OpaquePointer?
        try Self.check { error, size in
            handle = swiftcaffe_convolution_create(&c, error, size)
            return handle == nil ? -1 : 0
        }
        self.handle = handle!
    }

    deinit { swiftcaffe_convolution_destroy(handle) }

    /// Bytes held besides the blobs (the reordered weights; for training also backward's copies).
    public var bytes: Int { swiftcaffe_convolution_bytes(handle) }

    /// Bytes of scratch each call borrows (64-byte aligned): the input and output in the
    /// engine's layout where it differs from the blobs', and oneDNN's scratchpads. A net's
    /// engines borrow one buffer in turn (its `ScratchArena`), so that scratch costs what the
    /// largest layer needs, not the sum (docs/performance.md, "Winograd for 3×3 convolutions").
    public var scratchBytes: Int { swiftcaffe_convolution_scratch_bytes(handle) }

    /// The kernels oneDNN chose for forward, e.g. "brgconv:avx512_core".
    public var kernel: String { String(cString: swiftcaffe_convolution_kernel(handle)) }

    /// Copies O×(C/g)×kh×kw weights and the bias (nil: zero) into the engine's layout.
    public func setWeights(_ weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?) throws {
        try Self.check { swiftcaffe_convolution_set_weights(handle, weights, bias, $0, $1) }
    }

    /// Each call borrows `scratch`, at least `scratchBytes` 64-byte-aligned bytes, for the call.
    public func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) throws {
        try Self.check { swiftcaffe_convolution_forward(handle, input, output, scratch, Int32(shape.threads), $0, $1) }
    }

    /// Writes the input's gradient (overwrites it, as a layer's backward does).
    public func backwardData(_ outputDiff: UnsafePointer<Float>, into inputDiff: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) throws {
        try Self.check { swiftcaffe_convolution_backward_data(handle, outputDiff, inputDiff, scratch, Int32(shape.threads), $0, $1) }
    }

    /// Adds the gradients of the weights and bias (nil: none) into the given buffers.
    public func backwardWeights(input: UnsafePointer<Float>, outputDiff: UnsafePointer<Float>, addingInto weightsDiff: UnsafeMutablePointer<Float>,
                                biasDiff: UnsafeMutablePointer<Float>?, scratch: UnsafeMutableRawPointer) throws {
        try Self.check {
            swiftcaffe_convolution_backward_weights(handle, input, outputDiff, weightsDiff, biasDiff, scratch, Int32(shape.threads), $0, $1)
        }
    }

    private static func check(_ call: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
        guard status == 0 else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw SwiftCaffeError(text, hint: "set SWIFTCAFFE_CONVOLUTION=gemm to run convolutions without oneDNN")
        }
    }
}

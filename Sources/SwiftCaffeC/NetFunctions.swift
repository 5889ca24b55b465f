import Foundation
import SwiftCaffe

// The `sc_net_*` entry points of swiftcaffe.h: each checks its arguments, then calls the
// library through the `NetHandle`.

@_cdecl("sc_net_open")
public func sc_net_open(_ path: UnsafePointer<CChar>?, _ weights: UnsafePointer<CChar>?, _ phase: Int32, _ level: Int32,
                        _ stages: UnsafePointer<CChar>?, _ build: Int32, _ result: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    status {
        guard let result else { throw CallError.invalid("the result pointer is null") }
        result.pointee = nil
        let path = try string(path, "the net file's path")
        guard phase == 0 || phase == 1 else { throw CallError.invalid("phase \(phase) is neither SC_TRAIN (0) nor SC_TEST (1)") }
        let stageList = stages.map { String(cString: $0).split(separator: "\n").map(String.init) } ?? []
        guard build == 0 || build == 1 else { throw CallError.invalid("build \(build) is neither SC_AS_WRITTEN (0) nor SC_INFERENCE (1)") }
        let opened = try NetHandle.open(path: path, weights: weights.map { String(cString: $0) }, phase: phase == 0 ? .train : .test,
                                        state: NetState(level: Int(level), stages: stageList), inference: build == 1)
        result.pointee = handle(opened)
    }
}

@_cdecl("sc_net_retain")
public func sc_net_retain(_ net: OpaquePointer?) {
    guard let net else { return }
    _ = Unmanaged<NetHandle>.fromOpaque(UnsafeRawPointer(net)).retain()
}

@_cdecl("sc_net_close")
public func sc_net_close(_ net: OpaquePointer?) {
    guard let net else { return }
    Unmanaged<NetHandle>.fromOpaque(UnsafeRawPointer(net)).release()
}

@_cdecl("sc_net_describe")
public func sc_net_describe(_ net: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let net else { return nil }
    return Unmanaged<NetHandle>.fromOpaque(UnsafeRawPointer(net)).takeUnretainedValue().describe
}

/// Writes a blob's pointer and shape to the caller's variables.
private func report(_ blob: Blob, _ which: Int32, _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?,
                    _ axes: UnsafeMutablePointer<Int32>?, _ shape: UnsafeMutablePointer<Int64>?) throws {
    guard which == 0 || which == 1 else { throw CallError.invalid("which \(which) is neither SC_DATA (0) nor SC_DIFF (1)") }
    guard blob.shape.count <= 8 else { throw CallError.invalid("'\(blob.name)' has \(blob.shape.count) axes, more than SC_MAX_AXES (8)") }
    pointer?.pointee = which == 0 ? blob.data : blob.diff
    axes?.pointee = Int32(blob.shape.count)
    for (axis, size) in blob.shape.enumerated() { shape?[axis] = Int64(size) }
}

@_cdecl("sc_net_blob")
public func sc_net_blob(_ net: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ which: Int32, _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?,
                        _ axes: UnsafeMutablePointer<Int32>?, _ shape: UnsafeMutablePointer<Int64>?) -> Int32 {
    status {
        let handle = try object(net, as: NetHandle.self)
        let name = try string(name, "the blob's name")
        // Only a caller that takes the pointer reads the values (a shape costs no new plan).
        guard pointer != nil else {
            guard let blob = handle.net.blobs[name] else { throw CallError.notFound("the net has no blob '\(name)'") }
            return try report(blob, which, nil, axes, shape)
        }
        try report(try handle.blob(named: name), which, pointer, axes, shape)
    }
}

@_cdecl("sc_net_param")
public func sc_net_param(_ net: OpaquePointer?, _ layer: Int32, _ index: Int32, _ which: Int32, _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?,
                         _ axes: UnsafeMutablePointer<Int32>?, _ shape: UnsafeMutablePointer<Int64>?) -> Int32 {
    status {
        let net = try object(net, as: NetHandle.self).net
        guard net.layers.indices.contains(Int(layer)) else { throw CallError.notFound("the net has no layer \(layer) (it has \(net.layers.count))") }
        let params = net.layers[Int(layer)].params
        guard params.indices.contains(Int(index)) else {
            throw CallError.notFound("layer '\(net.layers[Int(layer)].spec.name)' has no parameter \(index) (it has \(params.count))")
        }
        try report(params[Int(index)], which, pointer, axes, shape)
    }
}

@_cdecl("sc_net_reshape_input")
public func sc_net_reshape_input(_ net: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ axes: Int32, _ shape: UnsafePointer<Int64>?) -> Int32 {
    status {
        let handle = try object(net, as: NetHandle.self)
        let name = try string(name, "the blob's name")
        guard (0...8).contains(axes), let shape else { throw CallError.invalid("a shape of \(axes) axes cannot be given (0 to 8, not null)") }
        try handle.reshapeInput(name, to: (0..<Int(axes)).map { Int(shape[$0]) })
    }
}

@_cdecl("sc_net_reshape")
public func sc_net_reshape(_ net: OpaquePointer?) -> Int32 {
    status { try object(net, as: NetHandle.self).reshape() }
}

@_cdecl("sc_net_forward")
public func sc_net_forward(_ net: OpaquePointer?, _ start: Int32, _ end: Int32, _ loss: UnsafeMutablePointer<Float>?) -> Int32 {
    status {
        let handle = try object(net, as: NetHandle.self)
        let value = try handle.forward(try handle.layers(from: start, to: end))
        loss?.pointee = value
    }
}

@_cdecl("sc_net_backward")
public func sc_net_backward(_ net: OpaquePointer?, _ start: Int32, _ end: Int32) -> Int32 {
    status {
        let handle = try object(net, as: NetHandle.self)
        guard !handle.isInferenceOnly else {
            throw CallError.invalid("the net was built for inference, which runs forward only; open it as written (SC_AS_WRITTEN) to run backward")
        }
        handle.backward(try handle.layers(from: start, to: end))
    }
}

@_cdecl("sc_net_parameters_changed")
public func sc_net_parameters_changed(_ net: OpaquePointer?) -> Int32 {
    status { try object(net, as: NetHandle.self).net.parametersChanged() }
}

@_cdecl("sc_net_clear_param_diffs")
public func sc_net_clear_param_diffs(_ net: OpaquePointer?) -> Int32 {
    status { try object(net, as: NetHandle.self).net.zeroParameterDiffs() }
}

@_cdecl("sc_net_save")
public func sc_net_save(_ net: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    status {
        CFormats.register()
        try object(net, as: NetHandle.self).net.saveWeights(to: try string(path, "the weights file's path"))
    }
}

@_cdecl("sc_net_save_format")
public func sc_net_save_format(_ net: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ format: UnsafePointer<CChar>?) -> Int32 {
    status {
        CFormats.register()
        try object(net, as: NetHandle.self).net.saveWeights(to: try string(path, "the weights file's path"),
                                                            formatExtension: try string(format, "the format's extension"))
    }
}

@_cdecl("sc_net_load")
public func sc_net_load(_ net: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    status {
        CFormats.register()
        try object(net, as: NetHandle.self).net.loadWeights(from: try string(path, "the weights file's path"), requireAll: false)
    }
}

@_cdecl("sc_net_generation")
public func sc_net_generation(_ net: OpaquePointer?) -> Int64 {
    (try? object(net, as: NetHandle.self).generation) ?? -1
}

@_cdecl("sc_net_hold")
public func sc_net_hold(_ net: OpaquePointer?) -> UnsafeMutableRawPointer? {
    guard let handle = try? object(net, as: NetHandle.self) else { return nil }
    return Unmanaged.passRetained(handle.net).toOpaque()
}

@_cdecl("sc_net_release_hold")
public func sc_net_release_hold(_ hold: UnsafeMutableRawPointer?) {
    guard let hold else { return }
    Unmanaged<Net>.fromOpaque(hold).release()
}

import Foundation
import SwiftCaffe

/// What an `sc_solver *` points at: a trainer whose nets are built as written, and handles
/// for them that outlive it.
final class SolverHandle {
    let trainer: Trainer
    let net: NetHandle
    let testNet: NetHandle?

    init(trainer: Trainer) {
        self.trainer = trainer
        net = NetHandle(net: trainer.trainNet, rebuild: nil)
        testNet = trainer.testNet.map { NetHandle(net: $0, rebuild: nil) }
    }
}

@_cdecl("sc_solver_open")
public func sc_solver_open(_ path: UnsafePointer<CChar>?, _ type: UnsafePointer<CChar>?, _ weightsExtension: UnsafePointer<CChar>?,
                           _ result: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    status {
        guard let result else { throw CallError.invalid("the result pointer is null") }
        result.pointee = nil
        CFormats.register()
        let path = try string(path, "the solver file's path")
        var spec = try NetSpec.load(path: path)
        guard spec.solver != nil else {
            throw SwiftCaffeError("'\(path)' has no solver settings", hint: "pass a Caffe solver prototxt (with 'net:') or a YAML net with a 'solver:' section")
        }
        if let type {
            let name = String(cString: type)
            guard let kind = SolverSpec.Kind(rawValue: name) else {
                throw CallError.invalid("'\(name)' is not a solver type: use one of \(SolverSpec.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            spec.solver?.type = kind
        }
        // A solver that is not YAML is Caffe's (whatever its name), and Caffe's scripts look for .caffemodel files.
        let isCaffeFile = !["yaml", "yml"].contains(URL(fileURLWithPath: path).pathExtension.lowercased())
        let suffix = weightsExtension.map { String(cString: $0) } ?? (isCaffeFile ? "caffemodel" : "safetensors")
        let trainer = try Trainer(spec: spec, options: TrainingOptions(asWritten: true, weightsExtension: suffix))
        result.pointee = handle(SolverHandle(trainer: trainer))
    }
}

@_cdecl("sc_solver_close")
public func sc_solver_close(_ solver: OpaquePointer?) {
    guard let solver else { return }
    Unmanaged<SolverHandle>.fromOpaque(UnsafeRawPointer(solver)).release()
}

@_cdecl("sc_solver_net")
public func sc_solver_net(_ solver: OpaquePointer?, _ result: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    status {
        guard let result else { throw CallError.invalid("the result pointer is null") }
        result.pointee = handle(try object(solver, as: SolverHandle.self).net)
    }
}

@_cdecl("sc_solver_test_net_count")
public func sc_solver_test_net_count(_ solver: OpaquePointer?) -> Int32 {
    guard let solver = try? object(solver, as: SolverHandle.self) else { return 0 }
    return solver.testNet == nil ? 0 : 1
}

@_cdecl("sc_solver_test_net")
public func sc_solver_test_net(_ solver: OpaquePointer?, _ index: Int32, _ result: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    status {
        guard let result else { throw CallError.invalid("the result pointer is null") }
        guard index == 0, let net = try object(solver, as: SolverHandle.self).testNet else {
            throw CallError.notFound("the solver has no test net \(index)")
        }
        result.pointee = handle(net)
    }
}

@_cdecl("sc_solver_step")
public func sc_solver_step(_ solver: OpaquePointer?, _ iterations: Int32) -> Int32 {
    status {
        guard iterations >= 0 else { throw CallError.invalid("cannot step \(iterations) iterations") }
        try object(solver, as: SolverHandle.self).trainer.step(Int(iterations))
    }
}

@_cdecl("sc_solver_solve")
public func sc_solver_solve(_ solver: OpaquePointer?) -> Int32 {
    status {
        let trainer = try object(solver, as: SolverHandle.self).trainer
        try trainer.step(trainer.maxIter - trainer.iteration)
    }
}

@_cdecl("sc_solver_apply_update")
public func sc_solver_apply_update(_ solver: OpaquePointer?) -> Int32 {
    status { try object(solver, as: SolverHandle.self).trainer.applyUpdate() }
}

@_cdecl("sc_solver_iter")
public func sc_solver_iter(_ solver: OpaquePointer?) -> Int64 {
    Int64((try? object(solver, as: SolverHandle.self).trainer.iteration) ?? -1)
}

@_cdecl("sc_solver_max_iter")
public func sc_solver_max_iter(_ solver: OpaquePointer?) -> Int64 {
    Int64((try? object(solver, as: SolverHandle.self).trainer.maxIter) ?? -1)
}

@_cdecl("sc_solver_snapshot")
public func sc_solver_snapshot(_ solver: OpaquePointer?) -> Int32 {
    status { try object(solver, as: SolverHandle.self).trainer.snapshot() }
}

@_cdecl("sc_solver_restore")
public func sc_solver_restore(_ solver: OpaquePointer?, _ state: UnsafePointer<CChar>?) -> Int32 {
    status { try object(solver, as: SolverHandle.self).trainer.resume(from: try string(state, "the solver state's path")) }
}

@_cdecl("sc_solver_test")
public func sc_solver_test(_ solver: OpaquePointer?, _ loss: UnsafeMutablePointer<Float>?, _ accuracy: UnsafeMutablePointer<Float>?) -> Int32 {
    status {
        let result = try object(solver, as: SolverHandle.self).trainer.test()
        loss?.pointee = result.loss ?? .nan
        accuracy?.pointee = result.accuracy ?? .nan
    }
}

@_cdecl("sc_image_load")
public func sc_image_load(_ path: UnsafePointer<CChar>?, _ color: Int32, _ pixels: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?,
                          _ height: UnsafeMutablePointer<Int32>?, _ width: UnsafeMutablePointer<Int32>?, _ channels: UnsafeMutablePointer<Int32>?) -> Int32 {
    status {
        guard let pixels else { throw CallError.invalid("the pixels pointer is null") }
        let image = try RasterImage(path: try string(path, "the picture's path"), channels: color == 0 ? 1 : 3)
        let count = image.pixels.count
        let values = malloc(max(count, 1) * MemoryLayout<Float>.stride)!.bindMemory(to: Float.self, capacity: max(count, 1))
        for i in 0..<count { values[i] = Float(image.pixels[i]) / 255 }
        pixels.pointee = values
        height?.pointee = Int32(image.height)
        width?.pointee = Int32(image.width)
        channels?.pointee = Int32(image.channels)
    }
}

@_cdecl("sc_layer_types")
public func sc_layer_types() -> UnsafePointer<CChar> { UnsafePointer(layerTypeNames.text) }
private let layerTypeNames: ErrorMessage = {
    CFormats.register()
    return ErrorMessage(LayerRegistry.typeNames.joined(separator: "\n"))
}()

@_cdecl("sc_net_file_dot")
public func sc_net_file_dot(_ path: UnsafePointer<CChar>?, _ phase: Int32, _ result: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    status {
        guard let result else { throw CallError.invalid("the result pointer is null") }
        CFormats.register()
        let spec = try NetSpec.load(path: try string(path, "the net file's path"))
        let graph = NetDiagram.dot(try NetPlan(spec: spec, options: NetOptions(phase: phase == 0 ? .train : .test)))
        result.pointee = strdup(graph)
    }
}

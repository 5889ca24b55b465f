import CMachine
import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// The command line's choice of OpenBLAS kernels: on a CPU that OpenBLAS does not know (it
/// falls back to Prescott) and that runs AVX-512 or AVX2, `swiftcaffe` restarts with the
/// better kernels; a kernel the user sets is kept.
@Suite struct OpenBLASKernelTests {
    func kernels(environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: FuzzTests.binary)
        process.arguments = ["time", repositoryRoot + "/nets/iris_mlp.yaml", "--iterations", "1", "--warmup", "0", "--threads", "1"]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.split(separator: "\n").first { $0.hasPrefix("OpenBLAS kernels: ") }.map { String($0.dropFirst(18).prefix { $0 != "," }) } ?? "none in: \(text)"
    }

    @Test func theCommandLineRunsTheBestKernelsTheCPUSupports() throws {
        // What OpenBLAS chose by itself in this (test) process, which never restarts.
        let own = OpenBLASKernels.current
        let expected: String
        switch (own.lowercased(), swiftcaffe_vector_level()) {
        case ("prescott", 2): expected = "SkylakeX"
        case ("prescott", 1): expected = "Haswell"
        default: expected = own
        }
        #expect(try kernels() == expected)
        #expect(try kernels(environment: ["OPENBLAS_CORETYPE": "Prescott"]) == "Prescott")
    }
}

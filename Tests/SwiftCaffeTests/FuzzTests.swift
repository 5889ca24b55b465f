import Foundation
import Testing
@testable import CaffeInterop
@testable import SwiftCaffe
@testable import SwiftCaffeCore
@testable import SwiftCaffeData
@testable import SwiftCaffeIO
@testable import SwiftCaffeLayers
@testable import SwiftCaffeSpec

/// No input crashes `swiftcaffe`, hangs it or gets an error that does not say where: a smoke
/// set of mutated inputs of every kind per `swift test` (`FUZZ_CASES` cases per kind, default
/// 4, seed `FUZZ_SEED`, default 1 so that the suite is the same on every run;
/// `FUZZ_KINDS=layer,csv` picks kinds), then every input the fuzzer ever caught
/// (`FuzzCorpus/`), replayed as it was. The campaign is `scripts/fuzz.sh`, which sets more
/// cases and, with `--keep` (`FUZZ_KEEP=1`), copies failing inputs into the corpus.
@Suite(.serialized) struct FuzzTests {
    /// The `swiftcaffe` executable `swift test` built beside the test bundle, or `FUZZ_BINARY`
    /// (to fuzz a release build, or an older one to see what the fuzzer finds in it).
    static var binary: String {
        ProcessInfo.processInfo.environment["FUZZ_BINARY"]
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("swiftcaffe").path
    }

    static var corpus: String { repositoryRoot + "/Tests/SwiftCaffeTests/FuzzCorpus" }

    @Test(.enabled(if: fashionMNISTInstalled)) func mutatedInputsNeverCrash() throws {
        let binary = try #require(FileManager.default.isExecutableFile(atPath: Self.binary) ? Self.binary : nil,
                                  "build the command line first: swift build")
        let environment = ProcessInfo.processInfo.environment
        let perKind = environment["FUZZ_CASES"].flatMap { Int($0) } ?? 4
        let seed = environment["FUZZ_SEED"].flatMap { UInt64($0) } ?? 1
        let folder = try temporaryFolder()
        var fuzzer = Fuzzer(binary: binary, repository: repositoryRoot, root: folder, seed: seed)
        let base = try fuzzer.prepareBase()

        var cases: [Fuzzer.Case] = []
        let kinds = environment["FUZZ_KINDS"].map { $0.split(separator: ",").compactMap { Fuzzer.Kind(rawValue: String($0)) } } ?? Fuzzer.Kind.allCases
        for kind in kinds {
            // Training cases are slower; summaries take the larger share.
            let count = kind == .netSummary ? perKind * 2 : perKind
            for number in 0..<count { cases.append(try fuzzer.makeCase(kind, number: number, base: base)) }
        }
        let results = Results(count: cases.count)
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let started = Date()
        let (runner, all) = (fuzzer, cases)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: all.count, by: workers) { results.set(index, runner.execute(all[index])) }
        }
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)

        let finished = results.all
        print(Self.report(finished, seed: seed, seconds: Date().timeIntervalSince(started), peakKiB: Int(usage.ru_maxrss)))
        let keeping = environment["FUZZ_KEEP"] == "1"
        for result in finished where result.outcome.isFailure {
            let kept = keeping ? try keep(result) : "(not kept)"
            Issue.record("\(result.fuzzCase.kind.rawValue) case \(result.fuzzCase.number) (seed \(seed)): \(result.outcome); kept in \(kept)\n\(result.output.suffix(1500))")
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Every input that once failed, run again as it was kept: each folder holds `command`
    /// (the arguments, one per line) and the case's files, with `$CASE` standing for the
    /// folder and `$BASE` for the unmutated inputs, which are made anew for the replay.
    @Test(.enabled(if: fashionMNISTInstalled)) func corpusOfPastFailures() throws {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: Self.corpus), !entries.isEmpty else { return }
        let binary = try #require(FileManager.default.isExecutableFile(atPath: Self.binary) ? Self.binary : nil)
        let folder = try temporaryFolder()
        let fuzzer = Fuzzer(binary: binary, repository: repositoryRoot, root: folder, seed: 0)
        let base = try fuzzer.prepareBase()
        for entry in entries.sorted() where FileManager.default.fileExists(atPath: Self.corpus + "/\(entry)/command") {
            let copy = folder + "/" + entry
            try FileManager.default.copyItem(atPath: Self.corpus + "/" + entry, toPath: copy)
            for name in try FileManager.default.contentsOfDirectory(atPath: copy) {
                guard let text = try? String(contentsOfFile: copy + "/" + name, encoding: .utf8), text.contains("$") else { continue }
                try Self.expand(text, case: copy, base: base).write(toFile: copy + "/" + name, atomically: true, encoding: .utf8)
            }
            let command = Self.expand(try String(contentsOfFile: copy + "/command", encoding: .utf8), case: copy, base: base)
            let replay = Fuzzer.Case(kind: .netTraining, number: 0, folder: copy, base: base, arguments: command.split(separator: "\n").map(String.init))
            let result = fuzzer.execute(replay)
            #expect(!result.outcome.isFailure, "\(entry): \(result.outcome)\n\(result.output.suffix(1500))")
        }
    }

    static func expand(_ text: String, case folder: String, base: String) -> String {
        text.replacingOccurrences(of: "$CASE", with: folder).replacingOccurrences(of: "$BASE", with: base)
    }

    /// The results of cases run on several threads.
    final class Results: @unchecked Sendable {
        private var values: [Fuzzer.Result?]
        private let lock = NSLock()

        init(count: Int) { values = Array(repeating: nil, count: count) }

        func set(_ index: Int, _ result: Fuzzer.Result) {
            lock.lock()
            values[index] = result
            lock.unlock()
        }

        var all: [Fuzzer.Result] { values.compactMap { $0 } }
    }

    /// Copies a failing case into the corpus so that it is replayed from now on: its files
    /// (not its output) and its command, with its folder and the base folder made symbolic.
    func keep(_ result: Fuzzer.Result) throws -> String {
        let fuzzCase = result.fuzzCase
        let target = Self.corpus + "/\(fuzzCase.kind.rawValue)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        func symbolic(_ text: String) -> String {
            text.replacingOccurrences(of: fuzzCase.folder, with: "$CASE").replacingOccurrences(of: fuzzCase.base, with: "$BASE")
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: fuzzCase.folder) where name != "out" {
            let source = fuzzCase.folder + "/" + name
            if let text = try? String(contentsOfFile: source, encoding: .utf8) {
                try symbolic(text).write(toFile: target + "/" + name, atomically: true, encoding: .utf8)
            } else {
                try FileManager.default.copyItem(atPath: source, toPath: target + "/" + name)
            }
        }
        try symbolic(fuzzCase.arguments.joined(separator: "\n")).write(toFile: target + "/command", atomically: true, encoding: .utf8)
        return target
    }

    static func report(_ results: [Fuzzer.Result], seed: UInt64, seconds: Double, peakKiB: Int) -> String {
        var lines = ["fuzz seed \(seed): \(results.count) cases in \(String(format: "%.1f", seconds)) s, peak memory of a case \(peakKiB / 1024) MB"]
        for kind in Fuzzer.Kind.allCases where results.contains(where: { $0.fuzzCase.kind == kind }) {
            let mine = results.filter { $0.fuzzCase.kind == kind }
            func count(_ test: (Fuzzer.Outcome) -> Bool) -> Int { mine.filter { test($0.outcome) }.count }
            let crashes = count { if case .crashed = $0 { true } else { false } }
            let hangs = count { $0 == .hung }
            let unlocated = count { if case .unlocatedError = $0 { true } else { false } }
            let slow = count { $0 == .slow }
            let wrong = count { if case .silentlyWrong = $0 { true } else { false } }
            lines.append("  \(kind.rawValue): \(mine.count) cases, \(count { $0 == .ran }) ran, \(count { $0 == .locatedError }) located errors, "
                + (slow > 0 ? "\(slow) slow (over a GFLOP a pass), " : "") + "\(crashes) crashes, \(hangs) hangs, \(unlocated) unlocated errors, \(wrong) silent wrong answers")
        }
        return lines.joined(separator: "\n")
    }
}

import Foundation

/// The built `blt` executable: next to the test bundle (swift test), or in .build/debug.
public func bltExecutable() -> String? {
    let fromTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let candidates = [fromTests.appendingPathComponent("blt"), fromTests.deletingLastPathComponent().appendingPathComponent("blt"),
                      root.appendingPathComponent(".build/debug/blt")]
    return candidates.map(\.path).first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// A finished `blt` run: exit status and what it printed.
public struct BLTRun { public var status: Int32; public var stdout: Data; public var stderr: String }

/// Runs the built `blt` executable with `arguments` (and `stdin`, else an empty standard input), in
/// this process's environment with `environment` set over it; the one process helper of the CLI
/// tests. A missing executable is a failure, not a skip.
public func runBLT(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]) throws -> BLTRun {
    guard let path = bltExecutable() else {
        throw TestSupportError("missing the blt executable next to the tests or in .build/debug; run `swift build` first")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return BLTRun(status: process.terminationStatus, stdout: stdout, stderr: stderr)
}

import ArgumentParser
import ByteLatent
import Foundation

/// A failure while running a command (not a usage mistake): printed as "Error: …", exit status 1,
/// without the usage text that ArgumentParser adds to a `ValidationError`.
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Precision: ExpressibleByArgument {
    static let help: ArgumentHelp = "Arithmetic of the weight products: fp32 (default; matches transformers in fp32) or bf16 (activations rounded to bf16 before each product, bf16 dot products on CPUs with AVX512-BF16). See Docs/benchmarks.md for its effect on bits per byte."
}

/// Reads a whole file, or standard input for "-", with an error that names the file.
func readInput(_ path: String) throws -> [UInt8] {
    if path == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CommandError("cannot read '\(path)': no such file, or it is not readable")
    }
    return Array(data)
}

/// Prints one JSON object (sorted keys) on standard output.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write("\n".data(using: .utf8)!)
}

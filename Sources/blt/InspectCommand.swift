import ArgumentParser
import ByteLatentConvert
import ByteLatent
import Safetensors
import Foundation
import JSONSupport

/// `blt inspect PATH`: layout, dtype, tensor count, parameters per component, config figures.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a BLT checkpoint: format, dtype, tensors, parameters per component, config figures."
    )

    @Argument(help: "A hub-layout or transformers BLT directory, an entropy model directory, or a .safetensors/.pth file.")
    var path: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let r: CheckpointReport
        do {
            r = try Inspector.inspect(path: path)
        } catch let e as ConvertError {
            StandardStreams.error("error: \(e.description)\n")
            throw ExitCode(1)
        }
        if json {
            print(r.json.serialized())
            return
        }
        func group(_ n: Int) -> String {
            let s = String(n)
            var out = ""
            for (i, c) in s.reversed().enumerated() {
                if i > 0, i % 3 == 0 { out.append(",") }
                out.append(c)
            }
            return String(out.reversed())
        }
        print("path:        \(r.path)")
        print("format:      \(r.format.rawValue)")
        print("dtype:       " + r.dtypes.map { "\($0.0) (\($0.1) tensors)" }.joined(separator: ", "))
        print("tensors:     \(r.tensorCount)")
        print("parameters:  \(group(r.totalParameters)) (\(formatBytes(r.totalBytes)))")
        let width = (r.components.map { $0.0.count }.max() ?? 0) + 2
        for (name, n) in r.components {
            let pct = r.totalParameters > 0 ? 100 * Double(n) / Double(r.totalParameters) : 0
            let pad = String(repeating: " ", count: max(1, width - name.count))
            print("  \(name)\(pad)\(group(n).leftPad(16))  \(String(format: "%5.1f%%", pct))")
        }
        if !r.figures.isEmpty { print("config:") }
        for (k, v) in r.figures {
            if let items = v.objectItems {
                print("  \(k): " + items.map { "\($0.0)=\(compact($0.1))" }.joined(separator: " "))
            } else {
                print("  \(k): \(compact(v))")
            }
        }
    }

    func compact(_ v: JSONValue) -> String {
        if case let .array(a) = v { return "[" + a.map(compact).joined(separator: ",") + "]" }
        return v.serialized()
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

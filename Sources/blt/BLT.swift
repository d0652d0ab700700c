import ArgumentParser
import ByteLatent
import Glibc

/// `blt`: the command-line front end of the ByteLatent engine. Each subcommand lives in its own file.
@main
struct BLT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blt",
        abstract: "Run Meta's Byte Latent Transformer (BLT) on the CPU.",
        version: """
            0.1.0
            kernels: \(KernelPath.active) of \(KernelPath.supported.map(\.description).joined(separator: ", "))
            gemm: \(ManyRowBackend.summary) (\(ManyRowBackend.reason))
            """,
        subcommands: [
            EvalCommand.self,
            EvalMergeCommand.self,
            GenerateCommand.self,
            PatchCommand.self,
            SweepCommand.self,
            ConvertCommand.self,
            InspectCommand.self,
            ServeCommand.self,
            BenchKernelsCommand.self,
        ]
    )

    static func main() {
        StandardStreams.setUp()
        // A BLT_CPU or BLT_GEMM this CPU cannot honour fails every command (and --version, --help)
        // before anything runs: a run must never measure another configuration than the one asked for.
        do { try KernelPath.checkEnvironment() } catch {
            StandardStreams.error("Error: \(error)\n")
            Glibc.exit(1)
        }
        if let problem = RawArguments.encodingProblem() {
            StandardStreams.error("Error: \(problem)\n")
            Glibc.exit(64)
        }
        // ArgumentParser's main(nil), with library errors said in the command line's words.
        do {
            var command = try parseAsRoot(nil)
            try command.run()
        } catch {
            exit(withError: FlagWording.reworded(error))
        }
        // Output still buffered (print) is written now; a full disk or closed stream must not pass as success.
        do { try StandardStreams.flush() } catch {
            StandardStreams.error("Error: \(error)\n")
            Glibc.exit(1)
        }
    }
}

import ArgumentParser

/// `blt`: the command-line front end of the ByteLatent engine. Each subcommand lives in its own file.
@main
struct BLT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blt",
        abstract: "Run Meta's Byte Latent Transformer (BLT) on the CPU.",
        version: "0.1.0",
        subcommands: [
            EvalCommand.self,
            EvalMergeCommand.self,
            GenerateCommand.self,
            PatchCommand.self,
            ConvertCommand.self,
            InspectCommand.self,
            ServeCommand.self,
        ]
    )
}

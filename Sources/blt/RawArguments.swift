import Glibc

/// The command line as the bytes the shell passed. Swift's `CommandLine.arguments` repairs invalid
/// UTF-8 with U+FFFD, which would silently change a prompt, or turn a file name into another one.
/// Text options (`--prompt`, `--text`) keep their bytes; any other argument must be UTF-8.
enum RawArguments {
    static let all: [[UInt8]] = (0 ..< Int(CommandLine.argc)).map { index in
        guard let argument = CommandLine.unsafeArgv[index] else { return [] }
        return Array(UnsafeBufferPointer(start: UnsafeRawPointer(argument).assumingMemoryBound(to: UInt8.self), count: strlen(argument)))
    }

    /// Options whose value is text for the model: bytes as given, UTF-8 or not.
    static let textOptions = ["--prompt", "--text"]

    /// The bytes of the last value given to `option` (`--prompt VALUE` or `--prompt=VALUE`), as
    /// ArgumentParser takes the last one.
    static func value(of option: String) -> [UInt8]? {
        value(of: option, in: all)
    }

    static func value(of option: String, in arguments: [[UInt8]]) -> [UInt8]? {
        let name = Array(option.utf8), joined = name + [UInt8(ascii: "=")]
        var found: [UInt8]?
        var index = 1
        while index < arguments.count {
            let argument = arguments[index]
            if argument == [UInt8(ascii: "-"), UInt8(ascii: "-")] { break }
            if argument == name, index + 1 < arguments.count {
                found = arguments[index + 1]
                index += 2
                continue
            }
            if argument.starts(with: joined) { found = Array(argument.dropFirst(joined.count)) }
            index += 1
        }
        return found
    }

    /// Why the command line cannot be taken as given: the first argument, other than the value of
    /// a text option, that is not valid UTF-8 (nil when all are).
    static func encodingProblem(in arguments: [[UInt8]] = all) -> String? {
        for (index, argument) in arguments.enumerated().dropFirst() where String(validating: argument, as: UTF8.self) == nil {
            let previous = String(decoding: arguments[index - 1], as: UTF8.self)
            if textOptions.contains(previous) { continue }
            if textOptions.contains(where: { argument.starts(with: Array(($0 + "=").utf8)) }) { continue }
            let shown = argument.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16, uppercase: true) }.joined()
            return "argument \(index) ('\(shown)') is not valid UTF-8. File names and option values must be UTF-8 here (a prompt or text may hold any bytes: --prompt, --text, or a file): rename the file, or pass it through a symbolic link with a UTF-8 name"
        }
        return nil
    }
}

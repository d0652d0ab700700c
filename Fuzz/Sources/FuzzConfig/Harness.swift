import ByteLatent
import ByteLatentConvert
import Foundation
import FuzzSupport
import Safetensors

/// config.json: the transformers BLT config (parse + validation, including the limits checked
/// before any weight is allocated) and, for a hub-layout `{"args": …}` file, the conversion rules
/// and the tensor list they imply.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    let path = writeScratch("config.json", inputBuffer(data, size))
    if let config = try? BLTConfig(contentsOf: path) {
        _ = config.hashTableCount
    }
    guard let json = try? JSONValue.read(path: path), let args = json["args"] else { return 0 }
    let entropy = json["entropy_args"] ?? args
    guard let hf = try? HubLayout.makeConfig(args: args, entropyArgs: entropy, patcherArgs: json["patcher_args"] ?? entropy,
                                            intermediate: [:], path: path) else { return 0 }
    _ = try? HubLayout.expectedOriginalTensors(config: hf, path: path)
    if case .object(let items) = hf {
        _ = try? BLTConfig(json: Dictionary(items, uniquingKeysWith: { _, last in last }))
    }
    return 0
}

@_cdecl("FuzzConfig_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

import Foundation
import FuzzSupport
import Safetensors

/// model.safetensors.index.json beside the two real shards of the sharded fixture: the index may
/// name files that exist, files that do not, paths outside the directory, wrong tensors.
private let directory: String = {
    let source = repositoryRoot + "/Tests/Fixtures/safetensors/sharded"
    let target = scratchDirectory + "/sharded"
    try? FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
    for name in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
        try? FileManager.default.removeItem(atPath: target + "/" + name)
        try! FileManager.default.copyItem(atPath: source + "/" + name, toPath: target + "/" + name)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    let dir = directory
    let path = writeScratch("sharded/model.safetensors.index.json", inputBuffer(data, size))
    precondition(path.hasPrefix(dir))
    guard let checkpoint = try? SafetensorsCheckpoint(path: path) else { return 0 }
    var checksum: UInt8 = 0
    for name in checkpoint.names {
        guard let tensor = try? checkpoint.tensor(name) else { continue }
        for byte in tensor.bytes { checksum &+= byte }
    }
    _ = checkpoint.metadata.count &+ Int(checksum)
    return 0
}

@_cdecl("FuzzSafetensorsIndex_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

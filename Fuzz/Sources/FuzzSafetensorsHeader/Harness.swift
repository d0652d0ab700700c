import FuzzSupport
import Safetensors

/// A .safetensors file: header length, header JSON, dtypes, shapes, offsets. Every tensor of a file
/// that opens is read through, so a header that validates but lies would fault here.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    let path = writeScratch("input.safetensors", inputBuffer(data, size))
    guard let file = try? SafetensorsFile(path: path) else { return 0 }
    var checksum: UInt8 = 0
    for name in file.names {
        guard let tensor = try? file.tensor(name) else { continue }
        for byte in tensor.bytes { checksum &+= byte }
    }
    _ = file.metadata.count &+ Int(checksum)
    return 0
}

@_cdecl("FuzzSafetensorsHeader_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

import ByteLatentConvert
import FuzzSupport

/// A .pth file: the zip reader (central directory, ZIP64, local headers, CRC-32, duplicate names),
/// then the restricted unpickler on its data.pkl and the tensor views into data/ entries.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    let path = writeScratch("input.pth", inputBuffer(data, size))
    if let archive = try? ZipArchive(path: path) {
        for entry in archive.entries { _ = try? archive.checkedData(entry) }
    }
    guard let checkpoint = try? TorchCheckpoint(path: path) else { return 0 }
    var checksum: UInt8 = 0
    for tensor in checkpoint.tensors {
        for byte in tensor.bytes { checksum &+= byte }
    }
    _ = checksum
    return 0
}

@_cdecl("FuzzZip_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

import Foundation
import Safetensors

/// A tensor's bytes inside a memory-mapped source file (safetensors or `.pth`), zero-copy.
///
/// `owner` keeps the mapping alive; `bytes` is only valid while the view (or its owner) is.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let bytes: UnsafeRawBufferPointer
    let owner: AnyObject

    public init(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.owner = owner
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { bytes.count }

    /// Hands the bytes out in pieces of at most `maxBytes` (a multiple of the element size).
    public func chunks(maxBytes: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let step = max(dtype.byteSize, maxBytes - maxBytes % dtype.byteSize)
        var o = 0
        while o < bytes.count {
            let e = min(bytes.count, o + step)
            try body(UnsafeRawBufferPointer(rebasing: bytes[o..<e]))
            o = e
        }
    }
}

/// A PyTorch checkpoint written by `torch.save` (zip archive + pickle), read without running code.
///
/// The state dict is the top-level dict, or its `"model"` / `"state_dict"` entry when present.
/// Tensors are views into the mapped archive (`<archive>/data/<key>` entries): nothing is copied.
public final class TorchCheckpoint: @unchecked Sendable {
    public let archive: ZipArchive
    public let tensors: [TensorView]
    private let index: [String: Int]

    public var path: String { archive.path }
    public var names: [String] { tensors.map(\.name) }
    public func tensor(_ name: String) -> TensorView? { index[name].map { tensors[$0] } }

    public init(path: String) throws {
        let archive = try ZipArchive(path: path)
        self.archive = archive
        let pickles = archive.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard let pkl = pickles.first else {
            throw ConvertError.missingZipEntry(path: path, entry: "<archive>/data.pkl")
        }
        if pickles.count > 1 {
            throw ConvertError.corruptZip(path: path, reason: "it holds \(pickles.count) data.pkl entries (\(pickles.map(\.name).joined(separator: ", "))); a torch.save archive has one")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        let root = try RestrictedUnpickler(data: archive.checkedData(pkl), path: path).load()
        guard case var .dict(dict) = root else {
            throw ConvertError.malformedPickle(path: path, reason: "top-level object is a \(root.kind), not a state dict")
        }
        for key in ["model", "state_dict"] {
            if case let .dict(inner)? = dict[key] { dict = inner; break }
        }
        var list: [TensorView] = []
        var idx: [String: Int] = [:]
        var checked: Set<String> = []
        for (k, v) in dict.items {
            guard case let .string(name) = k, case let .tensor(t) = v else { continue }
            let s = t.storage
            guard let dtype = DType(rawValue: s.type.dtypeName) else {
                throw ConvertError.unsupportedTorchTensor(path: path, name: name, reason: "storage type \(s.type.rawValue) is not supported")
            }
            // Contiguous row-major only (what a state dict of parameters holds).
            var expect = 1
            var numel = 1
            for d in stride(from: t.shape.count - 1, through: 0, by: -1) {
                guard t.shape[d] >= 0 else {
                    throw ConvertError.unsupportedTorchTensor(path: path, name: name, reason: "negative dimension")
                }
                if t.shape[d] != 1, t.stride[d] != expect {
                    throw ConvertError.unsupportedTorchTensor(path: path, name: name,
                        reason: "non-contiguous tensor (shape \(t.shape), stride \(t.stride)); save .contiguous() tensors")
                }
                let (e, o1) = expect.multipliedReportingOverflow(by: t.shape[d])
                let (m, o2) = numel.multipliedReportingOverflow(by: t.shape[d])
                guard !o1, !o2 else { throw ConvertError.unsupportedTorchTensor(path: path, name: name, reason: "shape overflows") }
                expect = e
                numel = m
            }
            let entryName = prefix + "data/" + s.key
            guard let entry = archive.entry(entryName) else {
                throw ConvertError.missingZipEntry(path: path, entry: entryName)
            }
            let es = s.type.elementSize
            guard t.storageOffset <= s.elementCount, numel <= s.elementCount - t.storageOffset,
                  s.elementCount <= entry.size / es else {
                throw ConvertError.unsupportedTorchTensor(path: path, name: name,
                    reason: "tensor data (offset \(t.storageOffset), \(numel) elements) lies outside its storage entry \(entryName) (\(entry.size) bytes); the file is truncated or corrupt")
            }
            // Each storage entry is checked once (several tensors may share it).
            let all = checked.contains(entryName) ? archive.data(entry) : try archive.checkedData(entry)
            checked.insert(entryName)
            let start = t.storageOffset * es
            let bytes = UnsafeRawBufferPointer(rebasing: all[start..<(start + numel * es)])
            idx[name] = list.count
            list.append(TensorView(name: name, dtype: dtype, shape: t.shape, bytes: bytes, owner: archive))
        }
        tensors = list
        index = idx
    }
}

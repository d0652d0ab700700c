import CKernels
import Foundation

/// BLT_CPU or BLT_GEMM set to something this CPU cannot honour: a kernel path it cannot run, or a
/// word that names nothing. The kernels would run something other than what was asked (the best
/// path, the engine's own choice of backend), so `BLTModel(directory:)` and
/// `KernelPath.checkEnvironment()` throw this instead.
public enum KernelConfigurationError: Error, Equatable, CustomStringConvertible {
    /// BLT_CPU names a kernel path this CPU cannot run; `supported` are those it runs.
    case unsupportedPath(KernelPath, supported: [KernelPath])
    /// BLT_CPU names no kernel path.
    case unknownPath(String, supported: [KernelPath])
    /// BLT_GEMM names no many-row backend.
    case unknownBackend(String)
    /// OpenBLAS runs kernels for instructions this CPU lacks (OPENBLAS_CORETYPE forced a newer
    /// core): the first product would die with SIGILL.
    case openBLASCoreUnsupported(core: String, needs: KernelPath, supported: [KernelPath])

    public var description: String {
        func list<T: CustomStringConvertible>(_ items: [T]) -> String { items.map(\.description).joined(separator: ", ") }
        switch self {
        case .unsupportedPath(let path, let supported):
            return "BLT_CPU=\(path) asks for a kernel path this CPU cannot run; this CPU runs: \(list(supported)) (unset BLT_CPU to use the best)"
        case .unknownPath(let value, let supported):
            return "BLT_CPU=\(String(reflecting: value)) names no kernel path (\(list(KernelPath.allCases))); this CPU runs: \(list(supported)) (unset BLT_CPU to use the best)"
        case .unknownBackend(let value):
            return "BLT_GEMM=\(String(reflecting: value)) names no many-row backend; this CPU runs: \(list(ManyRowBackend.allCases)) (unset BLT_GEMM to let the engine choose)"
        case .openBLASCoreUnsupported(let core, let needs, let supported):
            return "OpenBLAS runs its \(core) kernels (OPENBLAS_CORETYPE), which need \(needs) instructions this CPU lacks (it runs: \(list(supported))); unset OPENBLAS_CORETYPE, or set it to a core this CPU has (Haswell for AVX2)"
        }
    }
}

extension KernelPath {
    /// Throws `KernelConfigurationError` when BLT_CPU or BLT_GEMM (read once, at first use; empty
    /// counts as unset) asks for what this CPU cannot run or names nothing. `BLTModel(directory:)`
    /// runs this check; call it to fail before loading anything.
    public static func checkEnvironment() throws {
        try check(cpu: .environment, gemm: .environment)
        try check(openBLASCore: ManyRowBackend.openBLASCore, supported: supported)
    }

    /// The kernel path (as a stand-in for its instructions) each OpenBLAS 0.3.21 core of the
    /// x86 families this project runs on needs; older cores need no more than SSE3.
    static let openBLASCoreNeeds: [String: KernelPath] = [
        "haswell": .avx2, "zen": .avx2, "skylakex": .avx512, "cooperlake": .avx512, "sapphirerapids": .avx512,
    ]

    /// Refuses an OpenBLAS core whose kernels this CPU cannot run.
    static func check(openBLASCore core: String, supported: [KernelPath]) throws {
        if let needs = openBLASCoreNeeds[core.lowercased()], !supported.contains(needs) {
            throw KernelConfigurationError.openBLASCoreUnsupported(core: core, needs: needs, supported: supported)
        }
    }

    /// The decision of `checkEnvironment` for given settings.
    static func check(cpu: PathRequest, gemm: BackendRequest) throws {
        switch cpu {
        case .unsupported(let path): throw KernelConfigurationError.unsupportedPath(path, supported: supported)
        case .unknown(let value): throw KernelConfigurationError.unknownPath(value, supported: supported)
        case .unset, .honoured: break
        }
        if case .unknown(let value) = gemm { throw KernelConfigurationError.unknownBackend(value) }
    }
}

/// What BLT_CPU asks for and what became of it, as the C target's `blt_resolve_request` decides.
enum PathRequest: Equatable, Sendable {
    case unset
    case honoured(KernelPath)
    /// Not honoured: the best path this CPU runs is used.
    case unsupported(KernelPath)
    /// Not honoured: the best path this CPU runs is used.
    case unknown(String)

    /// BLT_CPU as the kernels read it.
    static var environment: PathRequest {
        var value: UnsafePointer<CChar>?
        let request = blt_path_request(&value)
        return PathRequest(request: request, value: value.map { String(cString: $0) })
    }

    /// The path that runs for this request on a CPU that runs `supported`: the one honoured, else
    /// the best (as `blt_resolve_request` resolves it).
    func path(supported: [KernelPath]) -> KernelPath {
        if case .honoured(let path) = self { return path }
        return supported.max { $0.rawValue < $1.rawValue } ?? .generic
    }

    /// How BLT_CPU=`value` (nil: unset) resolves on this CPU.
    init(_ value: String?) {
        var path: Int32 = 0
        self.init(request: blt_resolve_request(value, &path), value: value)
    }

    private init(request: Int32, value: String?) {
        let named = KernelPath.allCases.first { $0.description == value }
        switch (blt_request(UInt32(bitPattern: request)), named) {
        case (BLT_REQUEST_UNSET, _): self = .unset
        case (BLT_REQUEST_HONOURED, let path?): self = .honoured(path)
        case (BLT_REQUEST_UNSUPPORTED, let path?): self = .unsupported(path)
        default: self = .unknown(value ?? "")
        }
    }
}

/// What BLT_GEMM asks for (`ManyRowBackend.choose` decides what runs).
enum BackendRequest: Equatable, Sendable {
    case unset
    case honoured(ManyRowBackend)
    /// Not honoured: the engine chooses.
    case unknown(String)

    /// BLT_GEMM as the engine read it (once).
    static let environment = BackendRequest(ProcessInfo.processInfo.environment["BLT_GEMM"])

    /// BLT_GEMM=`value` (nil or empty: unset).
    init(_ value: String?) {
        guard let value, !value.isEmpty else { self = .unset; return }
        self = ManyRowBackend(rawValue: value).map { .honoured($0) } ?? .unknown(value)
    }
}

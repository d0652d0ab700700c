/// Element types of the safetensors format that this module understands.
///
/// The raw value is the spelling used in the header ("F32", "BF16", ...).
/// Other dtypes of the format (U16, U32, U64, F8_*) are rejected with
/// `SafetensorsError.unknownDType` when a file is opened.
public enum DType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    /// Size of one element in bytes.
    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    /// True for F64, F32, F16 and BF16 (the dtypes `Tensor.floats()` converts).
    public var isFloatingPoint: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16: return true
        default: return false
        }
    }

    /// True for I64, I32, I16, I8, U8 and BOOL (the dtypes `Tensor.int64s()` converts).
    public var isInteger: Bool { !isFloatingPoint }
}

/// Name, dtype, shape and location of one tensor, as declared in a file header.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range relative to the start of the data section (as in the header's `data_offsets`).
    public let dataOffsets: Range<Int>

    public init(name: String, dtype: DType, shape: [Int], dataOffsets: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
    }

    /// Product of the shape (1 for a scalar, 0 if any dimension is 0).
    /// Shapes read from files are validated not to overflow.
    public var elementCount: Int { shape.reduce(1, *) }
    /// `elementCount * dtype.byteSize`; equals `dataOffsets.count` for tensors read from a file.
    public var byteCount: Int { elementCount * dtype.byteSize }
}

/// Element count and byte count of `shape`; nil if a dimension is negative or if the product
/// of the non-zero dimensions (times `byteSize`) overflows an Int. Zero dimensions are left
/// out of the overflow check on purpose: a shape like [0, 2^62, 2^62] has no elements, but its
/// `rowLength` (a product of the other dimensions) would still overflow, so it is rejected.
@inline(__always)
func checkedByteCount(shape: [Int], byteSize: Int) -> (elements: Int, bytes: Int)? {
    var n = 1
    var hasZero = false
    for d in shape {
        if d < 0 { return nil }
        if d == 0 { hasZero = true; continue }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        if o { return nil }
        n = p
    }
    let (b, o) = n.multipliedReportingOverflow(by: byteSize)
    if o { return nil }
    return hasZero ? (0, 0) : (n, b)
}

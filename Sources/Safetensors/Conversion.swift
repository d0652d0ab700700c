// Element conversion kernels. Tight loops over typed pointers when the source is aligned
// (the normal case: safetensors writers align the data section to 8 bytes), unaligned loads
// otherwise. Little-endian hosts assumed for the aligned paths (x86-64, arm64).

/// IEEE binary16 bits → binary32 bits, exact for every input: normals, subnormals, ±0, ±inf,
/// and NaNs (payload shifted into place, sign kept, signalling NaNs NOT quietened).
@inline(__always)
func f16BitsToF32Bits(_ h: UInt16) -> UInt32 {
    let x = UInt32(h)
    let sign = (x & 0x8000) << 16
    let em = x & 0x7FFF
    var bits = (em << 13) &+ 0x3800_0000          // rebias exponent 15 → 127
    if em >= 0x7C00 { bits = (em << 13) | 0x7F80_0000 } // inf / NaN
    if em < 0x0400 {                                // zero / subnormal: em × 2^-24, exact
        bits = (Float(Int32(bitPattern: em)) * 0x1p-24).bitPattern
    }
    return sign | bits
}

/// binary16 bits → Float (exact).
@inline(__always)
func f16ToFloat(_ h: UInt16) -> Float { Float(bitPattern: f16BitsToF32Bits(h)) }

/// bfloat16 bits → Float (exact: the top half of the binary32 pattern).
@inline(__always)
func bf16ToFloat(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

/// Float → bfloat16 bits with round-to-nearest-even, as PyTorch does.
@inline(__always)
func floatToBF16Bits(_ f: Float) -> UInt16 {
    let b = f.bitPattern
    // Every NaN becomes 0xFFFF, bit for bit what torch's `.to(torch.bfloat16)` gives on x86.
    if b & 0x7FFF_FFFF > 0x7F80_0000 { return 0xFFFF }
    let bias: UInt32 = 0x7FFF &+ ((b >> 16) & 1)
    return UInt16(truncatingIfNeeded: (b &+ bias) >> 16)
}

/// Float → binary16 bits, round-to-nearest-even (overflow → inf, NaN stays NaN).
@inline(__always)
func floatToF16Bits(_ f: Float) -> UInt16 {
    let b = f.bitPattern
    let sign = UInt16(truncatingIfNeeded: (b >> 16) & 0x8000)
    let exp = Int((b >> 23) & 0xFF)
    let mant = b & 0x7F_FFFF
    if exp == 0xFF { // inf / NaN
        if mant == 0 { return sign | 0x7C00 }
        let payload = UInt16(truncatingIfNeeded: mant >> 13)
        return sign | 0x7C00 | 0x0200 | payload // quiet NaN, keep top payload bits
    }
    let e = exp - 127 + 15
    if e >= 0x1F { return sign | 0x7C00 } // overflow → inf
    if e <= 0 {
        // subnormal half (or zero): shift mantissa (with implicit 1) right, round to nearest even
        if e < -10 { return sign } // too small: rounds to ±0
        let m = mant | 0x80_0000
        let shift = UInt32(14 - e)
        let halfway: UInt32 = 1 << (shift - 1)
        let rem = m & ((1 << shift) - 1)
        var r = m >> shift
        if rem > halfway || (rem == halfway && (r & 1) == 1) { r += 1 }
        return sign | UInt16(truncatingIfNeeded: r)
    }
    var r = UInt32(e) << 10 | (mant >> 13)
    let rem = mant & 0x1FFF
    if rem > 0x1000 || (rem == 0x1000 && (r & 1) == 1) { r += 1 } // carry may round up to inf: correct
    return sign | UInt16(truncatingIfNeeded: r)
}

/// Bit-exact scalar conversions used by the reader and writer, for callers that handle raw bytes.
public enum FloatConversion {
    /// binary16 bits → binary32 bits, exact for every input (NaN payloads kept, not quietened).
    @inline(__always) public static func f16BitsToF32Bits(_ h: UInt16) -> UInt32 { Safetensors.f16BitsToF32Bits(h) }
    /// binary16 bits → Float, exact.
    @inline(__always) public static func f16ToFloat(_ h: UInt16) -> Float { Safetensors.f16ToFloat(h) }
    /// bfloat16 bits → Float, exact (`UInt32(bits) << 16`).
    @inline(__always) public static func bf16ToFloat(_ h: UInt16) -> Float { Safetensors.bf16ToFloat(h) }
    /// Float → bfloat16 bits, round to nearest even like PyTorch; every NaN → 0xFFFF (torch on x86).
    @inline(__always) public static func floatToBF16Bits(_ f: Float) -> UInt16 { Safetensors.floatToBF16Bits(f) }
    /// Float → binary16 bits, round to nearest even; overflow → ±inf; NaN → quiet NaN.
    @inline(__always) public static func floatToF16Bits(_ f: Float) -> UInt16 { Safetensors.floatToF16Bits(f) }
    /// Converts `count` F32/BF16/F16/F64 elements at `source` (any alignment) to Float.
    public static func toFloat(_ dtype: DType, from source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        convertToFloat(dtype: dtype, src: source, count: count, dst: destination)
    }
}

@inline(__always)
func isAligned(_ p: UnsafeRawPointer, _ a: Int) -> Bool { Int(bitPattern: p) & (a - 1) == 0 }

/// Converts `count` elements of floating-point `dtype` at `src` into `dst`.
func convertToFloat(dtype: DType, src: UnsafeRawPointer, count n: Int, dst: UnsafeMutablePointer<Float>) {
    switch dtype {
    case .f32:
        // memcpy semantics, works for any alignment
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
    case .bf16:
        if isAligned(src, 2) {
            let s = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { dst[i] = Float(bitPattern: UInt32(s[i]) << 16) }
        } else {
            for i in 0..<n { dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        }
    case .f16:
        if isAligned(src, 2) {
            let s = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { dst[i] = Float(bitPattern: f16BitsToF32Bits(s[i])) }
        } else {
            for i in 0..<n { dst[i] = Float(bitPattern: f16BitsToF32Bits(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        }
    case .f64:
        for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
    default:
        break
    }
}

@inline(__always)
func addBF16(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
    if isAligned(src, 2) {
        let s = src.assumingMemoryBound(to: UInt16.self)
        for i in 0..<n { dst[i] += Float(bitPattern: UInt32(s[i]) << 16) }
    } else {
        for i in 0..<n { dst[i] += Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
    }
}

@inline(__always)
func addF32(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
    if isAligned(src, 4) {
        let s = src.assumingMemoryBound(to: Float.self)
        for i in 0..<n { dst[i] += s[i] }
    } else {
        for i in 0..<n { dst[i] += src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
    }
}

@inline(__always)
func addF16(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
    if isAligned(src, 2) {
        let s = src.assumingMemoryBound(to: UInt16.self)
        for i in 0..<n { dst[i] += Float(bitPattern: f16BitsToF32Bits(s[i])) }
    } else {
        for i in 0..<n { dst[i] += Float(bitPattern: f16BitsToF32Bits(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
    }
}

@inline(__always)
func addF64(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
    for i in 0..<n { dst[i] += Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
}

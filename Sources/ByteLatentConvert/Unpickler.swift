import Foundation

/// A mutable dictionary that keeps insertion order (pickle dicts are filled after memoisation,
/// so they are shared by reference).
public final class PickleDict {
    public var items: [(key: PickleValue, value: PickleValue)] = []
    /// Nesting depth (1 for a dict of scalars); bounded while unpickling.
    var depth = 1
    public init() {}
    public subscript(_ key: String) -> PickleValue? {
        items.first { if case .string(key) = $0.key { return true } else { return false } }?.value
    }
}

/// A mutable list (same reason as `PickleDict`).
public final class PickleList {
    public var items: [PickleValue] = []
    var depth = 1
    public init() {}
}

/// Storage types that `torch.save` references (`torch.FloatStorage`, ...), with the
/// safetensors dtype spelling of their element type.
public enum TorchStorageType: String, CaseIterable, Sendable {
    case float = "FloatStorage", bfloat16 = "BFloat16Storage", half = "HalfStorage", double = "DoubleStorage"
    case long = "LongStorage", int = "IntStorage", short = "ShortStorage", char = "CharStorage"
    case byte = "ByteStorage", bool = "BoolStorage"

    public var dtypeName: String {
        switch self {
        case .float: return "F32"
        case .bfloat16: return "BF16"
        case .half: return "F16"
        case .double: return "F64"
        case .long: return "I64"
        case .int: return "I32"
        case .short: return "I16"
        case .char: return "I8"
        case .byte: return "U8"
        case .bool: return "BOOL"
        }
    }

    public var elementSize: Int {
        switch self {
        case .double, .long: return 8
        case .float, .int: return 4
        case .bfloat16, .half, .short: return 2
        case .char, .byte, .bool: return 1
        }
    }
}

/// A storage referenced by a persistent id: `('storage', torch.XStorage, key, location, numel)`.
public struct TorchStorageRef: Equatable, Sendable {
    public let type: TorchStorageType
    public let key: String
    public let elementCount: Int
}

/// The result of `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`.
public struct TorchTensorRef: Equatable, Sendable {
    public let storage: TorchStorageRef
    public let storageOffset: Int
    public let shape: [Int]
    public let stride: [Int]
}

/// The callables a state-dict pickle may reference. Everything else is refused.
public enum PickleGlobal: Equatable, Sendable {
    case orderedDict
    case rebuildTensorV2
    case rebuildParameter
    case storageType(TorchStorageType)
}

/// Values the restricted unpickler can produce.
public indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(PickleGlobal)
    case storage(TorchStorageRef)
    case tensor(TorchTensorRef)
    case mark

    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global: return "global"
        case .storage: return "storage"
        case .tensor: return "tensor"
        case .mark: return "mark"
        }
    }
}

/// A pickle interpreter restricted to what `torch.save(state_dict)` emits.
///
/// It builds values only: no object is ever instantiated from a name in the file. Allowed globals:
/// `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`
/// and the `torch.*Storage` types; any other global, and any opcode outside protocols 2–5's data
/// subset (e.g. INST, OBJ, NEWOBJ, EXT*), is an error.
public struct RestrictedUnpickler {
    public let path: String
    let data: UnsafeRawBufferPointer

    public init(data: UnsafeRawBufferPointer, path: String) {
        self.data = data
        self.path = path
    }

    static func resolve(module: String, name: String) -> PickleGlobal? {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"): return .rebuildParameter
        case ("torch", _): return TorchStorageType(rawValue: name).map { .storageType($0) }
        default: return nil
        }
    }

    public func load() throws -> PickleValue {
        var stack: [PickleValue] = []
        var depths: [Int] = []        // nesting depth of each stack value (containers: read live)
        var memoDepth: [Int: Int] = [:]
        let maxDepth = 100
        var marks: [Int] = []
        var memo: [Int: PickleValue] = [:]
        var pos = 0
        let n = data.count
        let path = self.path

        func fail(_ reason: String) -> ConvertError { .malformedPickle(path: path, reason: reason) }
        func need(_ k: Int) throws { if k < 0 || k > n - pos { throw fail("truncated at byte \(pos)") } }
        func u8() throws -> Int { try need(1); defer { pos += 1 }; return Int(data[pos]) }
        func le(_ k: Int) throws -> UInt64 {
            try need(k)
            var v: UInt64 = 0
            for i in 0..<k { v |= UInt64(data[pos + i]) << (8 * UInt64(i)) }
            pos += k
            return v
        }
        func bytes(_ k: Int) throws -> UnsafeRawBufferPointer {
            try need(k)
            defer { pos += k }
            return UnsafeRawBufferPointer(rebasing: data[pos..<(pos + k)])
        }
        func line() throws -> String {
            var e = pos
            while e < n, data[e] != 0x0A { e += 1 }
            guard e < n else { throw fail("unterminated line at byte \(pos)") }
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: data[pos..<e]), as: UTF8.self)
            pos = e + 1
            return s
        }
        var lastDepth = 0             // depth of what pop()/popMark() returned last (max over items)
        func depthOf(_ v: PickleValue, _ stored: Int) -> Int {
            switch v {
            case let .list(l): return l.depth
            case let .dict(d): return d.depth
            default: return stored
            }
        }
        func push(_ v: PickleValue, depth: Int = 0) throws {
            guard depth <= maxDepth else { throw fail("values nested deeper than \(maxDepth) levels at byte \(pos)") }
            stack.append(v)
            depths.append(depth)
        }
        func pop() throws -> PickleValue {
            guard let v = stack.popLast() else { throw fail("stack underflow at byte \(pos)") }
            lastDepth = depthOf(v, depths.removeLast())
            return v
        }
        func popMark() throws -> [PickleValue] {
            guard let m = marks.popLast(), m <= stack.count else { throw fail("no mark at byte \(pos)") }
            let items = Array(stack[m...])
            lastDepth = zip(items, depths[m...]).map { depthOf($0, $1) }.max() ?? 0
            stack.removeSubrange(m...)
            depths.removeSubrange(m...)
            return items
        }
        func top() throws -> PickleValue {
            guard let v = stack.last else { throw fail("stack underflow at byte \(pos)") }
            return v
        }
        func global(_ module: String, _ name: String) throws -> PickleValue {
            guard let g = RestrictedUnpickler.resolve(module: module, name: name) else {
                throw ConvertError.forbiddenPickleGlobal(path: path, global: "\(module).\(name)")
            }
            return .global(g)
        }
        func int(_ v: PickleValue, _ what: String) throws -> Int {
            guard case let .int(i) = v else { throw fail("\(what): expected int, found \(v.kind)") }
            return i
        }
        func ints(_ v: PickleValue, _ what: String) throws -> [Int] {
            guard case let .tuple(items) = v else { throw fail("\(what): expected tuple, found \(v.kind)") }
            return try items.map { try int($0, what) }
        }
        // A container put inside itself (directly, or through the memo into one it contains) makes a
        // reference cycle: never part of a state dict, and leaked by reference counting. Refused.
        // (Found by the FuzzUnpickler harness: LeakSanitizer reported the leaked cycle.)
        var cycleBudget = 1 << 24      // values visited by all cycle checks of this load (bounds the work)
        func refuseCycle(_ target: AnyObject, _ values: [PickleValue]) throws {
            var visited = Set<ObjectIdentifier>()
            var pending = values
            while let v = pending.popLast() {
                cycleBudget -= 1
                guard cycleBudget > 0 else { throw fail("containers nested too intricately at byte \(pos)") }
                let object: AnyObject
                switch v {
                case let .list(l): object = l; if visited.insert(ObjectIdentifier(l)).inserted { pending += l.items }
                case let .dict(d): object = d; if visited.insert(ObjectIdentifier(d)).inserted { for (k, x) in d.items { pending += [k, x] } }
                case let .tuple(items): pending += items; continue
                default: continue
                }
                if object === target { throw fail("a container is nested inside itself at byte \(pos) (a reference cycle)") }
            }
        }
        func setItems(_ target: PickleValue, _ kv: [PickleValue]) throws {
            guard case let .dict(d) = target else { throw fail("SETITEM(S) on \(target.kind)") }
            guard kv.count % 2 == 0 else { throw fail("odd number of SETITEMS values") }
            try refuseCycle(d, kv)
            var i = 0
            while i < kv.count { d.items.append((kv[i], kv[i + 1])); i += 2 }
            d.depth = max(d.depth, lastDepth + 1)
            guard d.depth <= maxDepth else { throw fail("values nested deeper than \(maxDepth) levels") }
        }
        func append(_ target: PickleValue, _ vs: [PickleValue]) throws {
            guard case let .list(l) = target else { throw fail("APPEND(S) on \(target.kind)") }
            try refuseCycle(l, vs)
            l.items.append(contentsOf: vs)
            l.depth = max(l.depth, lastDepth + 1)
            guard l.depth <= maxDepth else { throw fail("values nested deeper than \(maxDepth) levels") }
        }
        func call(_ f: PickleValue, _ args: PickleValue) throws -> PickleValue {
            guard case let .global(g) = f else { throw fail("REDUCE on \(f.kind)") }
            guard case let .tuple(a) = args else { throw fail("REDUCE arguments are \(args.kind)") }
            switch g {
            case .orderedDict:
                guard a.isEmpty else { throw fail("OrderedDict with arguments") }
                return .dict(PickleDict())
            case .rebuildTensorV2:
                // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                guard a.count >= 4, case let .storage(s) = a[0] else { throw fail("bad _rebuild_tensor_v2 arguments") }
                let offset = try int(a[1], "storage offset")
                let shape = try ints(a[2], "size"), stride = try ints(a[3], "stride")
                guard shape.count == stride.count, offset >= 0 else { throw fail("bad tensor geometry") }
                return .tensor(TorchTensorRef(storage: s, storageOffset: offset, shape: shape, stride: stride))
            case .rebuildParameter:
                guard a.count >= 1, case .tensor = a[0] else { throw fail("bad _rebuild_parameter arguments") }
                return a[0]
            case let .storageType(t):
                throw fail("storage type \(t.rawValue) called directly")
            }
        }

        while true {
            let at = pos
            let op = UInt8(try u8())
            switch op {
            case 0x80: _ = try u8()                               // PROTO
            case 0x95: _ = try le(8)                              // FRAME
            case 0x2E:                                            // STOP
                return try pop()
            case 0x28: marks.append(stack.count)                  // MARK
            case 0x7D: try push(.dict(PickleDict()))              // EMPTY_DICT
            case 0x5D: try push(.list(PickleList()))              // EMPTY_LIST
            case 0x29: try push(.tuple([]), depth: 1)             // EMPTY_TUPLE
            case 0x74:                                            // TUPLE
                let items = try popMark(); try push(.tuple(items), depth: lastDepth + 1)
            case 0x85:                                            // TUPLE1
                let a = try pop(); try push(.tuple([a]), depth: lastDepth + 1)
            case 0x86:                                            // TUPLE2
                let b = try pop(); let d = lastDepth
                let a = try pop(); try push(.tuple([a, b]), depth: max(d, lastDepth) + 1)
            case 0x87:                                            // TUPLE3
                let c = try pop(); var d = lastDepth
                let b = try pop(); d = max(d, lastDepth)
                let a = try pop(); try push(.tuple([a, b, c]), depth: max(d, lastDepth) + 1)
            case 0x73:                                            // SETITEM
                let v = try pop(); let d = lastDepth
                let k = try pop(); lastDepth = max(d, lastDepth)
                try setItems(try top(), [k, v])
            case 0x75:                                            // SETITEMS
                let kv = try popMark(); try setItems(try top(), kv)
            case 0x61:                                            // APPEND
                let v = try pop(); try append(try top(), [v])
            case 0x65:                                            // APPENDS
                let vs = try popMark(); try append(try top(), vs)
            case 0x71, 0x72, 0x94:                                // BINPUT, LONG_BINPUT, MEMOIZE
                let k = op == 0x94 ? memo.count : Int(try le(op == 0x71 ? 1 : 4))
                memo[k] = try top()
                memoDepth[k] = depths.last ?? 0
            case 0x68, 0x6A:                                      // BINGET, LONG_BINGET
                let k = Int(try le(op == 0x68 ? 1 : 4))
                guard let v = memo[k] else { throw fail("memo key \(k) not set at byte \(at)") }
                try push(v, depth: memoDepth[k] ?? 0)
            case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try le(4)))))   // BININT
            case 0x4B: try push(.int(Int(try le(1))))                               // BININT1
            case 0x4D: try push(.int(Int(try le(2))))                               // BININT2
            case 0x8A:                                                                  // LONG1
                let k = try u8()
                guard k <= 8 else { throw fail("integer wider than 64 bits at byte \(at)") }
                if k == 0 { try push(.int(0)); break }
                var v = try le(k)
                if k < 8, v & (1 << (8 * UInt64(k) - 1)) != 0 { v |= ~0 << (8 * UInt64(k)) }
                try push(.int(Int(Int64(bitPattern: v))))
            case 0x58, 0x8C, 0x8D:                          // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                let len = try le(op == 0x58 ? 4 : op == 0x8C ? 1 : 8)
                guard len <= UInt64(n) else { throw fail("string length out of range at byte \(at)") }
                try push(.string(String(decoding: try bytes(Int(len)), as: UTF8.self)))
            case 0x43, 0x42:                                // SHORT_BINBYTES, BINBYTES
                let len = try le(op == 0x43 ? 1 : 4)
                try push(.bytes(Array(try bytes(Int(len)))))
            case 0x47:                                      // BINFLOAT (big-endian)
                let b = try bytes(8)
                var v: UInt64 = 0
                for x in b { v = v << 8 | UInt64(x) }
                try push(.float(Double(bitPattern: v)))
            case 0x4E: try push(.none)                  // NONE
            case 0x88: try push(.bool(true))            // NEWTRUE
            case 0x89: try push(.bool(false))           // NEWFALSE
            case 0x30: _ = try pop()                        // POP
            case 0x31: _ = try popMark()                    // POP_MARK
            case 0x63:                                      // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                try push(try global(module, name))
            case 0x93:                                      // STACK_GLOBAL
                let nameV = try pop(), moduleV = try pop()
                guard case let .string(name) = nameV, case let .string(module) = moduleV else {
                    throw fail("STACK_GLOBAL needs two strings at byte \(at)")
                }
                try push(try global(module, name))
            case 0x52:                                      // REDUCE
                let args = try pop(), f = try pop()
                try push(try call(f, args))
            case 0x62:                                      // BUILD: state of an OrderedDict (_metadata) or tensor
                let state = try pop()
                switch try top() {
                case .dict, .tensor: _ = state
                default: throw fail("BUILD on \(try top().kind) at byte \(at)")
                }
            case 0x51:                                      // BINPERSID
                let pid = try pop()
                guard case let .tuple(t) = pid, t.count == 5, case .string("storage") = t[0],
                      case let .global(.storageType(type)) = t[1], case let .string(key) = t[2] else {
                    throw fail("unsupported persistent id at byte \(at)")
                }
                let numel = try int(t[4], "storage size")
                guard numel >= 0 else { throw fail("negative storage size") }
                try push(.storage(TorchStorageRef(type: type, key: key, elementCount: numel)))
            default:
                throw ConvertError.forbiddenPickleOpcode(path: path, opcode: op, offset: at)
            }
        }
    }
}

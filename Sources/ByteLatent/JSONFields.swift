import Safetensors
import JSONSupport

/// Typed access to a JSON object's fields, with errors that name the field.
struct JSONFields {
    let raw: [String: JSONValue]
    let path: String
    init(_ raw: [String: JSONValue], path: String) { self.raw = raw; self.path = path }
    init(_ items: [(String, JSONValue)], path: String) {
        self.init(Dictionary(items, uniquingKeysWith: { _, last in last }), path: path)
    }

    private func fail(_ key: String, _ reason: String) -> BLTError { .configInvalid(field: path + key, reason: reason) }
    private func value(_ key: String) -> JSONValue? {
        if case .null = raw[key] ?? .null { return nil }
        return raw[key]
    }

    func object(_ key: String) throws -> JSONFields {
        guard let v = value(key) else { return JSONFields([:], path: path + key + ".") }
        guard case .object(let dict) = v else { throw fail(key, "must be an object") }
        return JSONFields(dict, path: path + key + ".")
    }
    func optionalInt(_ key: String, default fallback: Int? = nil) throws -> Int? {
        guard raw.keys.contains(key) else { return fallback }
        guard let v = value(key) else { return nil }
        guard let n = v.intValue, v.doubleValue.map({ abs($0) < 9e15 }) == true else { throw fail(key, "must be an integer") }
        return n
    }
    func int(_ key: String, default fallback: Int) throws -> Int { try optionalInt(key) ?? fallback }
    func optionalDouble(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let n = v.doubleValue else { throw fail(key, "must be a number") }
        return n
    }
    func double(_ key: String, default fallback: Double) throws -> Double { try optionalDouble(key) ?? fallback }
    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let v = value(key) else { return fallback }
        guard case .bool(let b) = v else { throw fail(key, "must be true or false") }
        return b
    }
    func string(_ key: String, default fallback: String?) throws -> String? {
        guard let v = value(key) else { return fallback }
        guard case .string(let s) = v else { throw fail(key, "must be a string") }
        return s
    }
    func intArray(_ key: String, default fallback: [Int]) throws -> [Int] {
        guard let v = value(key) else { return fallback }
        guard case .array(let items) = v else { throw fail(key, "must be a list of integers") }
        return try items.map {
            guard let n = $0.intValue else { throw fail(key, "must be a list of integers") }
            return n
        }
    }
}

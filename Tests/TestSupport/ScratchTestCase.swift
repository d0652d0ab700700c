import Foundation
import XCTest

/// A test case whose every test gets a fresh directory, `scratch`, removed after it.
open class ScratchTestCase: XCTestCase {
    public var scratch: URL!

    open override func setUpWithError() throws {
        try super.setUpWithError()
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("blt-\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    open override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
        try super.tearDownWithError()
    }
}

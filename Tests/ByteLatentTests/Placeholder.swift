import XCTest
final class ByteLatentTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }

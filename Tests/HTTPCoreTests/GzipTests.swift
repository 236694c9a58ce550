import Foundation
import HTTPTesting
import HTTPCore
import Uploads
import Testing

@Suite("Gzip")
struct GzipTests {
    private func gzip(_ data: Data, in scratch: TemporaryDirectory, name: String = "data") throws -> Data {
        try scratch.write(name, data)
        try runProcess("/usr/bin/gzip", ["-f", "-9", name], in: scratch.url)
        return try Data(contentsOf: scratch.file(name + ".gz"))
    }

    @Test("Round-trips what the gzip command writes")
    func roundTrip() throws {
        let scratch = try TemporaryDirectory()
        let original = testBytes(count: 300_000, seed: 5) + Data(count: 300_000)
        #expect(try Gzip.decompress(try gzip(original, in: scratch), maxOutputBytes: original.count) == original)
    }

    @Test("Concatenated members decompress to the concatenation, as with gzip -d")
    func multipleMembers() throws {
        let scratch = try TemporaryDirectory()
        let first = try gzip(Data("first part, ".utf8), in: scratch, name: "a")
        let second = try gzip(Data("second part".utf8), in: scratch, name: "b")
        #expect(try Gzip.decompress(first + second, maxOutputBytes: 1000) == Data("first part, second part".utf8))
    }

    @Test("Output is capped exactly at maxOutputBytes")
    func limit() throws {
        let scratch = try TemporaryDirectory()
        let compressed = try gzip(Data(count: 10_000), in: scratch)
        #expect(try Gzip.decompress(compressed, maxOutputBytes: 10_000).count == 10_000)
        let error = #expect(throws: UploadError.self) { try Gzip.decompress(compressed, maxOutputBytes: 9_999) }
        #expect(error?.code == .uploadTooLarge)
    }

    @Test("Corrupt, truncated, non-gzip and trailing-garbage input is rejected")
    func corrupt() throws {
        let scratch = try TemporaryDirectory()
        let compressed = try gzip(testBytes(count: 50_000, seed: 9), in: scratch)
        var flipped = compressed
        flipped[flipped.startIndex + flipped.count / 2] ^= 0xFF
        var badCRC = compressed
        badCRC[badCRC.endIndex - 6] ^= 0x01
        for (label, input) in [("flipped", flipped), ("bad crc", badCRC), ("truncated", compressed.prefix(compressed.count / 2)),
                               ("header only", compressed.prefix(10)), ("not gzip", Data("plain text".utf8)),
                               ("empty", Data()), ("trailing garbage", compressed + Data("junk".utf8))] {
            let error = #expect(throws: UploadError.self, "\(label)") { try Gzip.decompress(input, maxOutputBytes: 1 << 20) }
            #expect(error?.code == .invalidGzip, "\(label)")
        }
        // Zero padding after the stream (some tape-oriented tools add it) is accepted.
        #expect(try Gzip.decompress(compressed + Data(count: 512), maxOutputBytes: 1 << 20) == testBytes(count: 50_000, seed: 9))
    }
}

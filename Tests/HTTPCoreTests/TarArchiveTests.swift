import Foundation
import HTTPTesting
import HTTPCore
import Uploads
import Testing

/// Archives are built with the real tar command so the reader is tested on what users upload.
@Suite("TarArchive")
struct TarArchiveTests {
    let config = Data(#"{"peft_type": "LORA", "r": 8}"#.utf8)
    let weights = testBytes(count: 70_000, seed: 11)

    /// An adapter folder at `<scratch>/<folder>/` with a config, weights and a nested file.
    private func makeAdapter(in scratch: TemporaryDirectory, folder: String = "my-adapter") throws {
        try scratch.write("\(folder)/adapter_config.json", config)
        try scratch.write("\(folder)/adapter_model.bin", weights)
        try scratch.write("\(folder)/nested/README.md", Data("# notes\n".utf8))
    }

    private func tar(_ arguments: [String], in scratch: TemporaryDirectory) throws -> Data {
        try runProcess("/usr/bin/tar", arguments + ["-f", "out.tar"], in: scratch.url)
        return try Data(contentsOf: scratch.file("out.tar"))
    }

    @Test("Files at the archive root, plain and gzip-compressed", arguments: [false, true])
    func rootFiles(gzip: Bool) throws {
        let scratch = try TemporaryDirectory()
        try makeAdapter(in: scratch)
        let archive = try tar([gzip ? "-cz" : "-c", "-C", "my-adapter", "."], in: scratch)
        #expect(Gzip.isGzip(archive) == gzip)
        let entries = try TarArchive.read(archive)
        let files = entries.filter { $0.kind == .file }
        #expect(Set(files.map(\.path)) == ["adapter_config.json", "adapter_model.bin", "nested/README.md"])
        #expect(files.first { $0.name == "adapter_config.json" }?.data == config)
        #expect(files.first { $0.name == "adapter_model.bin" }?.data == weights)
        #expect(entries.contains { $0.kind == .directory && $0.path == "nested" })
        #expect(!entries.contains { $0.path.isEmpty || $0.path.hasPrefix(".") })
        #expect(files.first { $0.name == "adapter_config.json" }?.mode == 0o644)
    }

    @Test("A single leading folder is kept in the path; callers match on the basename")
    func leadingFolder() throws {
        let scratch = try TemporaryDirectory()
        try makeAdapter(in: scratch)
        let entries = try TarArchive.read(try tar(["-cz", "my-adapter"], in: scratch))
        #expect(entries.contains(TarEntry(path: "my-adapter", kind: .directory, mode: 0o755, data: Data())))
        let config = try #require(entries.first { $0.name == "adapter_config.json" })
        #expect(config.path == "my-adapter/adapter_config.json")
        #expect(config.data == self.config)
        #expect(entries.first { $0.name == "README.md" }?.path == "my-adapter/nested/README.md")
    }

    @Test("Long paths in every header format", arguments: ["ustar", "gnu", "pax"])
    func longNames(format: String) throws {
        let scratch = try TemporaryDirectory()
        let deep = (1...6).map { "directory-level-\($0)" }.joined(separator: "/") + "/adapter_config.json"
        #expect(deep.utf8.count > 100)
        try scratch.write(deep, config)
        let entries = try TarArchive.read(try tar(["--format=\(format)", "-c", "directory-level-1"], in: scratch))
        #expect(entries.first { $0.kind == .file }?.path == deep)
        #expect(entries.first { $0.kind == .file }?.data == config)
    }

    @Test("Entries that climb out with '..' are rejected")
    func dotDot() throws {
        let scratch = try TemporaryDirectory()
        try scratch.write("evil", Data("pwned".utf8))
        try scratch.write("inner/keep.txt", Data("ok".utf8))
        // -P keeps the name as given instead of stripping the leading "../".
        let archive = try tar(["-P", "-c", "-C", "inner", "keep.txt", "../evil"], in: scratch)
        let error = #expect(throws: UploadError.self) { try TarArchive.read(archive) }
        #expect(error?.code == .unsafeTarEntry)
        #expect(error?.message.contains("..") == true)

        let hidden = try tar(["-P", "-c", "inner/../evil"], in: scratch)
        #expect((#expect(throws: UploadError.self) { try TarArchive.read(hidden) })?.code == .unsafeTarEntry)
    }

    @Test("Absolute paths are rejected")
    func absolutePath() throws {
        let scratch = try TemporaryDirectory()
        let file = try scratch.write("abs.txt", Data("x".utf8))
        let archive = try tar(["-P", "-c", file.path], in: scratch)
        let error = #expect(throws: UploadError.self) { try TarArchive.read(archive) }
        #expect(error?.code == .unsafeTarEntry)
        #expect(error?.message.contains("absolute") == true)
    }

    @Test("Symbolic links are rejected, even when pointing inside the archive")
    func symlink() throws {
        let scratch = try TemporaryDirectory()
        try makeAdapter(in: scratch)
        try FileManager.default.createSymbolicLink(atPath: scratch.file("my-adapter/link.json").path,
                                                   withDestinationPath: "adapter_config.json")
        let error = #expect(throws: UploadError.self) { try TarArchive.read(try tar(["-cz", "my-adapter"], in: scratch)) }
        #expect(error?.code == .unsafeTarEntry)
        #expect(error?.message.contains("symbolic link") == true)
    }

    @Test("Hard links are rejected")
    func hardLink() throws {
        let scratch = try TemporaryDirectory()
        try makeAdapter(in: scratch)
        try FileManager.default.linkItem(at: scratch.file("my-adapter/adapter_model.bin"),
                                         to: scratch.file("my-adapter/copy.bin"))
        let error = #expect(throws: UploadError.self) { try TarArchive.read(try tar(["-c", "my-adapter"], in: scratch)) }
        #expect(error?.code == .unsafeTarEntry)
        #expect(error?.message.contains("hard link") == true)
    }

    @Test("FIFOs and device entries are rejected", arguments: ["3", "4", "6"] as [Character])
    func specialFiles(type: Character) throws {
        var builder = TarBuilder()
        builder.entry("ok.txt", content: Data("fine".utf8))
        builder.entry("dev/thing", type: type)
        builder.end()
        let error = #expect(throws: UploadError.self) { try TarArchive.read(builder.data) }
        #expect(error?.code == .unsafeTarEntry)
    }

    @Test("A FIFO archived by tar is rejected")
    func fifoFromTar() throws {
        let scratch = try TemporaryDirectory()
        try makeAdapter(in: scratch)
        try runProcess("/usr/bin/mkfifo", [scratch.file("my-adapter/pipe").path])
        let error = #expect(throws: UploadError.self) { try TarArchive.read(try tar(["-c", "my-adapter"], in: scratch)) }
        #expect(error?.code == .unsafeTarEntry)
        #expect(error?.message.contains("FIFO") == true)
    }

    @Test("Truncated archives are rejected wherever they are cut")
    func truncated() throws {
        let scratch = try TemporaryDirectory()
        try makeAdapter(in: scratch)
        let archive = try tar(["-c", "my-adapter"], in: scratch)
        #expect(try TarArchive.read(archive).count == 5)
        // Inside a header, inside file data, and at a block boundary before the end marker.
        let endOfData = try #require(lastNonZeroBlockEnd(archive))
        for cut in [300, 512 + 100, archive.count / 2, endOfData, 0] {
            let error = #expect(throws: UploadError.self, "cut at \(cut)") { try TarArchive.read(archive.prefix(cut)) }
            #expect(error?.code == .invalidTar, "cut at \(cut)")
        }
        let gzipped = try tar(["-cz", "my-adapter"], in: scratch)
        let error = #expect(throws: UploadError.self) { try TarArchive.read(gzipped.prefix(gzipped.count - 10)) }
        #expect(error?.code == .invalidGzip)
    }

    @Test("A corrupted header fails its checksum")
    func badChecksum() throws {
        let scratch = try TemporaryDirectory()
        try makeAdapter(in: scratch)
        var archive = try tar(["-c", "my-adapter"], in: scratch)
        archive[archive.startIndex + 3] ^= 0x20  // flip a bit in the first name
        let error = #expect(throws: UploadError.self) { try TarArchive.read(archive) }
        #expect(error?.code == .invalidTar)
        #expect(error?.message.contains("checksum") == true)

        let notTar = Data(String(repeating: "definitely not a tar archive ", count: 40).utf8)
        #expect((#expect(throws: UploadError.self) { try TarArchive.read(notTar) })?.code == .invalidTar)
    }

    @Test("A gzip bomb stops at the limit instead of filling memory")
    func gzipBomb() throws {
        let scratch = try TemporaryDirectory()
        try scratch.write("bomb/zeros.bin", Data(count: 20 << 20))
        let archive = try tar(["-cz", "bomb"], in: scratch)
        #expect(archive.count < 100_000)
        let error = #expect(throws: UploadError.self) { try TarArchive.read(archive, maxUnpackedBytes: 1 << 20) }
        #expect(error?.code == .uploadTooLarge)
        // The same archive is fine under a limit it fits in.
        #expect(try TarArchive.read(archive, maxUnpackedBytes: 32 << 20).first { $0.kind == .file }?.data.count == 20 << 20)
    }

    @Test("Plain tar input over the limit is refused")
    func plainTarLimit() throws {
        var builder = TarBuilder()
        builder.entry("big.bin", content: Data(count: 4096))
        builder.end()
        let error = #expect(throws: UploadError.self) { try TarArchive.read(builder.data, maxUnpackedBytes: 4096) }
        #expect(error?.code == .uploadTooLarge)
    }

    @Test("pax path and size records, GNU base-256 sizes and ustar prefixes")
    func handWrittenHeaders() throws {
        var builder = TarBuilder()
        builder.pax([("path", "adapter/ümlaut config.json"), ("mtime", "1700000000.5")])
        builder.entry("ignored-short-name", content: Data("{}".utf8))
        builder.entry("weights.bin", content: Data("0123456789".utf8), base256Size: true)
        builder.entry("file.txt", content: Data("p".utf8), prefix: "deep/prefix")
        builder.entry("./", type: "5")
        builder.end()
        let entries = try TarArchive.read(builder.data)
        #expect(entries.map(\.path) == ["adapter/ümlaut config.json", "weights.bin", "deep/prefix/file.txt"])
        #expect(entries.map(\.data) == [Data("{}".utf8), Data("0123456789".utf8), Data("p".utf8)])
    }

    @Test("Malformed headers are rejected as invalid_tar", arguments: ["lying size", "bad pax", "dangling pax",
                                                                     "sparse", "unknown type", "empty name"])
    func malformedHeaders(kind: String) throws {
        var builder = TarBuilder()
        switch kind {
        case "lying size":
            builder.entry("a.txt", content: Data("abc".utf8), size: 1 << 20)
        case "bad pax":
            builder.entry("PaxHeaders/x", type: "x", content: Data("99 path=x\n".utf8))
            builder.entry("a.txt")
        case "dangling pax":
            builder.pax([("path", "x.txt")])
        case "sparse":
            builder.entry("s.bin", type: "S")
        case "unknown type":
            builder.entry("q.bin", type: "Q")
        default:
            builder.entry("", content: Data("x".utf8))
        }
        builder.end()
        let error = #expect(throws: UploadError.self, "\(kind)") { try TarArchive.read(builder.data) }
        #expect(error?.code == .invalidTar, "\(kind)")
    }

    /// Offset just past the last block that has any non-zero byte (i.e. without the end marker).
    private func lastNonZeroBlockEnd(_ archive: Data) -> Int? {
        let bytes = [UInt8](archive)
        var end = bytes.count
        while end >= 512 && bytes[(end - 512)..<end].allSatisfy({ $0 == 0 }) {
            end -= 512
        }
        return end > 0 ? end : nil
    }
}

import Foundation

public struct ProcessResult {
    public var exitCode: Int32
    public var stdout: Data
    public var stderr: String

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

public struct ProcessFailure: Error, CustomStringConvertible {
    public var command: String
    public var result: ProcessResult

    public var description: String { "\(command) exited \(result.exitCode): \(result.stderr)" }
}

/// Runs a command to completion. Output goes to temporary files rather than pipes so a
/// chatty child can never block on a full pipe while we wait for it.
@discardableResult
public func runProcess(_ executable: String, _ arguments: [String], in directory: URL? = nil,
                allowFailure: Bool = false) throws -> ProcessResult {
    let scratch = try TemporaryDirectory()
    let outURL = scratch.url.appendingPathComponent("stdout")
    let errURL = scratch.url.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL)
    let err = try FileHandle(forWritingTo: errURL)
    defer {
        try? out.close()
        try? err.close()
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory {
        process.currentDirectoryURL = directory
    }
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = out
    process.standardError = err
    try process.run()
    process.waitUntilExit()
    let result = ProcessResult(exitCode: process.terminationStatus,
                               stdout: (try? Data(contentsOf: outURL)) ?? Data(),
                               stderr: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self))
    if result.exitCode != 0 && !allowFailure {
        throw ProcessFailure(command: ([executable] + arguments).joined(separator: " "), result: result)
    }
    return result
}

/// A fresh directory removed when the value is released.
public final class TemporaryDirectory {
    public let url: URL

    public init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("httpcore-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    public func file(_ relativePath: String) -> URL {
        url.appendingPathComponent(relativePath)
    }

    /// Writes `data` at `relativePath`, creating parent folders.
    @discardableResult
    public func write(_ relativePath: String, _ data: Data) throws -> URL {
        let target = file(relativePath)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: target)
        return target
    }
}

/// Deterministic pseudo-random bytes, so failures reproduce.
public func testBytes(count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> Data {
    var state = seed
    var data = Data(count: count)
    for index in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        data[index] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return data
}

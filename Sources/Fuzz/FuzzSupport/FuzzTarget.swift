import Foundation
#if FUZZING
import CFuzzerDriver
#endif

/// The one function a fuzz target registers; libFuzzer calls it once per input, on one thread.
nonisolated(unsafe) private var registeredBody: ((Data) -> Void)?

/// libFuzzer's per-input callback. Must be a C function, so the Swift body is reached through a
/// global rather than a capture.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Data(bytes: $0, count: size) } ?? Data()
    registeredBody?(input)
    return 0
}

/// Runs a fuzz target. Built with `-sanitize=fuzzer -DFUZZING` (scripts/checks/fuzz.sh) this is
/// libFuzzer with the usual flags; in the ordinary build (where libFuzzer is not linked) it
/// replays the files or folders named on the command line through the same body, so a crash
/// found by the fuzzer can be reproduced in a debugger without the sanitizer toolchain.
public enum FuzzTarget {
    public static func run(_ body: @escaping (Data) -> Void) -> Never {
        registeredBody = body
        #if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput))
        #else
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            for file in files(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                    exit(2)
                }
                body(data)
                count += 1
            }
        }
        print("replayed \(count) inputs")
        exit(0)
        #endif
    }

    /// `path` itself, or the regular files directly inside it when it is a folder (a corpus).
    private static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }
    }

    /// The repository root, for targets that need committed assets (the real tokenizer).
    public static func repositoryRoot() -> URL {
        // This file is Sources/Fuzz/FuzzSupport/FuzzTarget.swift.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }
}

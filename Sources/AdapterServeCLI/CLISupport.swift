import ArgumentParser
import Foundation

/// A user-facing failure: printed as "Error: <message>" with exit code 1, no stack trace.
struct CLIError: Error, CustomStringConvertible {
    let description: String

    static func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as CLIError { throw e } catch {
            throw CLIError(description: "\(error)")
        }
    }
}

func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

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

/// `--input-ids 1,2,3` or `--input-tokens N`: the encoder input of the measuring commands.
struct EncoderInputOptions: ParsableArguments {
    @Option(help: "Comma-separated encoder input ids.") var inputIds: String?
    @Option(help: "Or: a synthetic input of this many tokens (</s> included).") var inputTokens: Int?

    /// The ids given, or a synthetic input of `inputTokens` (else `defaultTokens`) tokens.
    func ids(defaultTokens: Int? = nil) throws -> [Int32] {
        if let inputIds {
            return try inputIds.split(separator: ",").map { s in
                guard let v = Int32(s.trimmingCharacters(in: .whitespaces)), v >= 0 else { throw ValidationError("--input-ids: '\(s)' is not a token id") }
                return v
            }
        }
        guard let n = inputTokens ?? defaultTokens, n >= 1 else { throw ValidationError("give --input-ids or --input-tokens N (N >= 1)") }
        // Ordinary word pieces cycled, ending in </s>: a realistic attention pattern.
        return (0..<(n - 1)).map { Int32(100 + ($0 * 37) % 20000) } + [1]
    }

    static func checkVocabulary(_ ids: [Int32], _ vocabSize: Int) throws {
        guard ids.allSatisfy({ Int($0) < vocabSize }) else { throw ValidationError("an input id is outside the vocabulary") }
    }
}

import Foundation
import SafeTensors
import Testing
@testable import Numerics

/// The safetensors reader refuses every malformed container with a clear message, because
/// adapter uploads are parsed with it.
@Suite struct SafeTensorsTests {
    static func file(header: String, data: [UInt8]) -> Data {
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(Data(header.utf8))
        d.append(contentsOf: data)
        return d
    }

    func error(_ data: Data) -> String? {
        do { _ = try SafeTensors(data: data); return nil } catch { return error.message }
    }

    @Test func roundTripsAllFloatTypes() throws {
        let values: [Float] = [1, -2.5, 0.125, 3]
        let data = try SafeTensorsWriter.serialize([.f32("a", shape: [2, 2], values: values), .bf16("b", shape: [4], values: values)])
        let st = try SafeTensors(data: data)
        #expect(try st.floats("a") == values)
        #expect(try st.floats("b") == values)
        #expect(st.tensors["a"]?.shape == [2, 2])
        let f16 = Self.file(header: #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: [0x00, 0x3C, 0x00, 0xC0])
        #expect(try SafeTensors(data: f16).floats("h") == [1, -2])
    }

    @Test func truncatedFilesAreRefused() {
        #expect(error(Data([1, 2, 3]))?.contains("shorter") == true)
        #expect(error(Self.file(header: "{}", data: []).prefix(9))?.contains("beyond") == true)
    }

    @Test func headerLengthBeyondFileIsRefused() {
        var d = Data(repeating: 0, count: 16)
        d[0] = 0xFF; d[1] = 0xFF
        #expect(error(d)?.contains("beyond") == true)
    }

    @Test func malformedHeadersAreRefused() {
        #expect(error(Self.file(header: "not json", data: []))?.contains("not valid JSON") == true)
        #expect(error(Self.file(header: "[1]", data: []))?.contains("not a JSON object") == true)
        #expect(error(Self.file(header: #"{"t":{"dtype":"F32"}}"#, data: []))?.contains("malformed") == true)
        #expect(error(Self.file(header: #"{"t":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))?.contains("unknown dtype") == true)
        #expect(error(Self.file(header: #"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))?.contains("invalid shape") == true)
    }

    @Test func offsetsMustMatchShapeAndFile() {
        #expect(error(Self.file(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))?.contains("span") == true)
        #expect(error(Self.file(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]))?.contains("past the end") == true)
        #expect(error(Self.file(header: #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: [0, 0, 0, 0]))?.contains("invalid data_offsets") == true)
        #expect(error(Self.file(header: #"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])) != nil)
    }

    @Test func overlappingTensorsAreRefused() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        #expect(error(Self.file(header: header, data: Array(repeating: 0, count: 12)))?.contains("overlap") == true)
    }

    @Test func integerTensorsAreNotLoadedAsWeights() throws {
        let st = try SafeTensors(data: Self.file(header: #"{"i":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#, data: [1, 0, 0, 0]))
        #expect(throws: NumericsError.self) { try st.floats("i") }
    }
}

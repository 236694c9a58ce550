import Foundation
import HTTPCore
import Uploads
import Serving

/// The two PEFT files from an upload body: multipart/form-data with parts named (or with
/// filenames) adapter_config.json and adapter_model.safetensors, or a .tar / .tar.gz of the
/// adapter directory.
enum AdapterUpload {
    static let configName = "adapter_config.json"
    static let weightsName = "adapter_model.safetensors"

    static func files(from request: HTTPRequest, maxBytes: Int) throws(ServiceError) -> (config: Data, weights: Data) {
        let contentType = request.headers["Content-Type"] ?? ""
        var found: [String: Data] = [:]
        if contentType.lowercased().hasPrefix("multipart/form-data") {
            let parts: [MultipartPart]
            do { parts = try MultipartFormData.parse(body: request.body, contentType: contentType) } catch {
                throw ServiceError(.invalidRequest, error.code.rawValue, error.message)
            }
            for part in parts {
                for candidate in [part.name, part.filename.map { ($0 as NSString).lastPathComponent } ?? ""]
                where candidate == configName || candidate == weightsName {
                    guard found[candidate] == nil else { throw .badRequest("the upload has more than one \(candidate)") }
                    found[candidate] = part.data
                    break
                }
            }
        } else {
            let entries: [TarEntry]
            do { entries = try TarArchive.read(request.body, maxUnpackedBytes: maxBytes) } catch {
                throw ServiceError(error.code == .uploadTooLarge ? .payloadTooLarge : .invalidRequest, error.code.rawValue, "\(error.message) (send multipart/form-data with adapter_config.json and adapter_model.safetensors, or a .tar/.tar.gz of the PEFT directory)")
            }
            for entry in entries {
                let base = entry.name
                guard entry.kind == .file,  base == configName || base == weightsName else { continue }
                guard found[base] == nil else { throw .badRequest("the archive has more than one \(base)") }
                found[base] = entry.data
            }
        }
        guard let config = found[configName] else { throw .badRequest("the upload has no \(configName)") }
        guard let weights = found[weightsName] else {
            throw .badRequest("the upload has no \(weightsName) (adapter_model.bin pickles are not accepted; save with safe_serialization=True)")
        }
        return (config, weights)
    }
}

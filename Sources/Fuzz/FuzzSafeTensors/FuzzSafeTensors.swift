import FuzzSupport
import SafeTensors

/// Untrusted bytes as an uploaded `adapter_model.safetensors`: the header parser must refuse
/// them or produce entries whose every tensor can be read in bounds.
@main enum FuzzSafeTensors {
    static func main() {
        FuzzTarget.run { data in
            guard let file = try? SafeTensors(data: data) else { return }
            for info in file.tensors.values where info.dtype == .f32 || info.dtype == .f16 || info.dtype == .bf16 {
                _ = try? file.floats(info)
            }
        }
    }
}

import Adapters
import FuzzSupport

/// Untrusted bytes as an uploaded `adapter_config.json`.
@main enum FuzzPEFTConfig {
    static func main() {
        FuzzTarget.run { data in _ = try? PEFTConfig.parse(data) }
    }
}

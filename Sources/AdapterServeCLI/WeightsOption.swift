import ArgumentParser
import Numerics

/// `--weights fp32|bf16|int8|nf4` on serve, generate and eval: an unknown value is refused by
/// the parser with the list of formats.
extension WeightFormat: ExpressibleByArgument {}

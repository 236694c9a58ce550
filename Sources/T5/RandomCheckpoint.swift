import Foundation
import SafeTensors
import Numerics

/// Writes a checkpoint with random weights in the Hugging Face layout for a given config, with
/// the standard deviations transformers' T5 initialisation uses, so a benchmark model has
/// realistic activation scales. For speed tests only: its outputs mean nothing.
public enum RandomCheckpoint {
    public static func write(config c: T5Config, to directory: URL, seed: UInt64 = 0, bf16: Bool = false) throws {
        var rng = SplitMix64(seed: seed)
        var entries: [SafeTensorsWriter.Entry] = []
        func add(_ name: String, _ shape: [Int], std: Float, constant: Float? = nil) {
            let n = shape.reduce(1, *)
            var values = [Float](repeating: constant ?? 0, count: n)
            if constant == nil {
                var i = 0
                while i < n {
                    // Box-Muller: two normals per pair of uniforms.
                    let u1 = max(rng.nextUnitDouble(), 1e-300), u2 = rng.nextUnitDouble()
                    let r = (-2 * log(u1)).squareRoot()
                    values[i] = Float(r * cos(2 * .pi * u2)) * std
                    if i + 1 < n { values[i + 1] = Float(r * sin(2 * .pi * u2)) * std }
                    i += 2
                }
            }
            entries.append(bf16 ? .bf16(name, shape: shape, values: values) : .f32(name, shape: shape, values: values))
        }
        let d = c.dModel, inner = c.innerDim
        add("shared.weight", [c.vocabSize, d], std: 1)
        for (stack, layers) in [("encoder", c.numLayers), ("decoder", c.numDecoderLayers)] {
            for i in 0..<layers {
                let p = "\(stack).block.\(i).layer"
                var attentions = ["\(p).0.SelfAttention"]
                if stack == "decoder" { attentions.append("\(p).1.EncDecAttention") }
                for (j, a) in attentions.enumerated() {
                    add("\(a).q.weight", [inner, d], std: Float(Double(d * c.dKV)).squareRoot().reciprocal)
                    add("\(a).k.weight", [inner, d], std: Float(d).squareRoot().reciprocal)
                    add("\(a).v.weight", [inner, d], std: Float(d).squareRoot().reciprocal)
                    add("\(a).o.weight", [d, inner], std: Float(inner).squareRoot().reciprocal)
                    if i == 0 && j == 0 {
                        add("\(a).relative_attention_bias.weight", [c.relativeAttentionNumBuckets, c.numHeads],
                            std: Float(d).squareRoot().reciprocal)
                    }
                    add("\(p).\(j).layer_norm.weight", [d], std: 0, constant: 1)
                }
                let ff = "\(p).\(attentions.count).DenseReluDense"
                if c.isGatedActivation {
                    add("\(ff).wi_0.weight", [c.dFF, d], std: Float(d).squareRoot().reciprocal)
                    add("\(ff).wi_1.weight", [c.dFF, d], std: Float(d).squareRoot().reciprocal)
                } else {
                    add("\(ff).wi.weight", [c.dFF, d], std: Float(d).squareRoot().reciprocal)
                }
                add("\(ff).wo.weight", [d, c.dFF], std: Float(c.dFF).squareRoot().reciprocal)
                add("\(p).\(attentions.count).layer_norm.weight", [d], std: 0, constant: 1)
            }
            add("\(stack).final_layer_norm.weight", [d], std: 0, constant: 1)
        }
        if !c.tieWordEmbeddings { add("lm_head.weight", [c.vocabSize, d], std: 1) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try SafeTensorsWriter.write(entries, to: directory.appendingPathComponent("model.safetensors"))
    }
}

private extension Float {
    var reciprocal: Float { 1 / self }
}

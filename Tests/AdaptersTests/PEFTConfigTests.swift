import Foundation
import Testing
@testable import Adapters

@Suite struct PEFTConfigTests {
    func parse(_ json: String) throws(AdapterError) -> PEFTConfig { try PEFTConfig.parse(Data(json.utf8)) }

    func refusal(_ json: String) -> AdapterError? {
        do { _ = try parse(json); return nil } catch { return error }
    }

    @Test func seedsConfigParses() throws {
        let c = try parse(#"{"peft_type":"LORA","task_type":"SEQ_2_SEQ_LM","r":32,"lora_alpha":32,"target_modules":["q","v"],"lora_dropout":0.05,"bias":"none","use_dora":false,"modules_to_save":null}"#)
        guard case .lora(let l) = c else { Issue.record("not LoRA"); return }
        #expect(l.r == 32 && l.loraAlpha == 32 && l.targets == .names(["q", "v"]))
        #expect(l.scaling(for: "encoder.block.0.layer.0.SelfAttention.q") == 1)
    }

    @Test func unsupportedSettingsAreRefusedNotIgnored() {
        let base = #""peft_type":"LORA","task_type":"SEQ_2_SEQ_LM","r":8,"target_modules":["q"]"#
        #expect(refusal("{\(base),\"modules_to_save\":[\"lm_head\"]}")?.message.contains("modules_to_save") == true)
        #expect(refusal("{\(base),\"bias\":\"all\"}")?.message.contains("bias") == true)
        #expect(refusal("{\(base),\"fan_in_fan_out\":true}")?.message.contains("fan_in_fan_out") == true)
        #expect(refusal(#"{"peft_type":"PREFIX_TUNING","task_type":"SEQ_2_SEQ_LM"}"#)?.message.contains("num_virtual_tokens") == true)
        #expect(refusal(#"{"peft_type":"LOHA","task_type":"SEQ_2_SEQ_LM"}"#)?.code == "unsupported_adapter")
        #expect(refusal(#"{"peft_type":"LORA","task_type":"CAUSAL_LM","r":8}"#)?.message.contains("SEQ_2_SEQ_LM") == true)
        #expect(refusal(#"{"peft_type":"LORA","r":0}"#)?.code == "invalid_adapter")
        #expect(refusal(#"{"peft_type":"LORA","r":8,"target_modules":"(unclosed"}"#)?.message.contains("regular expression") == true)
        #expect(refusal("not json")?.code == "invalid_adapter")
        #expect(refusal(#"{"r":8}"#)?.message.contains("peft_type") == true)
        // A field of the wrong type is an error, not silently the default (lora_alpha 8).
        #expect(refusal("{\(base),\"lora_alpha\":\"16\"}")?.message.contains("lora_alpha must be a number") == true)
        #expect(refusal("{\(base),\"use_rslora\":\"yes\"}")?.message.contains("use_rslora must be true or false") == true)
        #expect(refusal("{\(base),\"use_dora\":1.5}")?.message.contains("use_dora") == true)
        #expect(refusal("{\(base),\"lora_alpha\":null}") == nil)
    }

    @Test func promptConfigParses() throws {
        let c = try parse(#"{"peft_type":"PROMPT_TUNING","task_type":"SEQ_2_SEQ_LM","num_virtual_tokens":20,"token_dim":768,"num_transformer_submodules":2}"#)
        #expect(c == .promptTuning(PromptTuningConfig(numVirtualTokens: 20, tokenDim: 768, numTransformerSubmodules: 2)))
    }
}

/// PEFT's matching rules (peft.tuners.tuners_utils.check_target_module_exists, get_pattern_key).
@Suite struct TargetMatchingTests {
    let q = "encoder.block.1.layer.0.SelfAttention.q"
    let crossV = "decoder.block.2.layer.1.EncDecAttention.v"
    let wo = "decoder.block.0.layer.2.DenseReluDense.wo"

    @Test func listEntriesMatchKeySuffixes() {
        var c = LoRAConfig(); c.targets = .names(["q", "v"])
        #expect(c.targets(q) && c.targets(crossV) && !c.targets(wo))
        #expect(!c.targets("encoder.block.1.layer.0.SelfAttention.qq"))
    }

    @Test func regexMustMatchWholeKey() {
        var c = LoRAConfig(); c.targets = .regex(#".*decoder.*\.(q|v)$"#)
        #expect(c.targets(crossV) && !c.targets(q))
        c.targets = .regex("q")
        #expect(!c.targets(q))
    }

    @Test func layersToTransformUsesTheBlockIndexForListsOnly() {
        var c = LoRAConfig(); c.targets = .names(["q", "v"]); c.layersToTransform = [0, 2]
        #expect(!c.targets(q))           // block 1
        #expect(c.targets(crossV))       // block 2
        c.targets = .regex(#".*\.(q|v)"#)
        #expect(c.targets(q))            // PEFT ignores layers_to_transform for regex targets
    }

    @Test func rankAndAlphaPatternsMatchKeySuffixes() {
        var c = LoRAConfig(); c.r = 8; c.loraAlpha = 16
        c.rankPattern = [("q", 4)]; c.alphaPattern = [("v", 4)]
        #expect(c.rank(for: q) == 4 && c.rank(for: crossV) == 8)
        #expect(c.alpha(for: crossV) == 4 && c.alpha(for: q) == 16)
        #expect(c.scaling(for: q) == 4 && c.scaling(for: crossV) == 0.5)
        c.useRSLoRA = true; c.rankPattern = []; c.alphaPattern = []
        #expect(c.scaling(for: q) == Float(16 / 8.0.squareRoot()))
    }

    @Test func excludeModulesWins() {
        var c = LoRAConfig(); c.targets = .names(["q", "v"]); c.excludeModules = .names(["EncDecAttention.v"])
        #expect(c.targets(q) && !c.targets(crossV))
    }
}

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var million = SHA256()
        let chunk = [UInt8](repeating: 0x61, count: 1000)
        for _ in 0..<1000 { chunk.withUnsafeBytes { million.update($0) } }
        #expect(million.finalize() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func opensslDigestEqualsPortableImplementation() {
        var state: UInt64 = 42
        for count in [0, 1, 55, 56, 63, 64, 65, 1000, 100_003] {
            let bytes = (0..<count).map { _ -> UInt8 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: state >> 33)
            }
            #expect(bytes.withUnsafeBytes { SHA256.digest($0) } == SHA256.hex(bytes), "\(count) bytes")
        }
    }
}

import Foundation
import Testing
@testable import Adapters

/// How IA3, DoRA and AdaLoRA configs are read, and what of them is still refused.
@Suite struct PEFTMethodConfigTests {
    func parse(_ json: String) throws(AdapterError) -> PEFTConfig { try PEFTConfig.parse(Data(json.utf8)) }

    @Test func methodsParseToTheirKinds() throws {
        #expect(try parse(#"{"peft_type":"LORA","task_type":"SEQ_2_SEQ_LM","r":8,"target_modules":["q"],"use_dora":true}"#).kind == .dora)
        #expect(try parse(#"{"peft_type":"IA3","task_type":"SEQ_2_SEQ_LM"}"#).kind == .ia3)
        #expect(try parse(#"{"peft_type":"ADALORA","task_type":"SEQ_2_SEQ_LM","init_r":4,"lora_alpha":8}"#).kind == .adalora)
        #expect(try parse(#"{"peft_type":"PREFIX_TUNING","task_type":"SEQ_2_SEQ_LM","num_virtual_tokens":4}"#).kind == .prefixTuning)
        #expect(throws: AdapterError.self) {
            try parse(#"{"peft_type":"PREFIX_TUNING","task_type":"SEQ_2_SEQ_LM","num_virtual_tokens":4,"num_transformer_submodules":1}"#)
        }
    }

    @Test func ia3FeedForwardFollowsPEFT() throws {
        guard case .ia3(let c) = try parse(#"{"peft_type":"IA3","task_type":"SEQ_2_SEQ_LM"}"#) else { Issue.record("not IA3"); return }
        // PEFT's T5 defaults: k, v, wo targeted; wo's input scaled.
        #expect(c.targets.targets("encoder.block.0.layer.1.DenseReluDense.wo") && c.isFeedForward("encoder.block.0.layer.1.DenseReluDense.wo"))
        #expect(c.targets.targets("decoder.block.1.layer.1.EncDecAttention.k") && !c.isFeedForward("decoder.block.1.layer.1.EncDecAttention.k"))
        #expect(!c.targets.targets("encoder.block.0.layer.0.SelfAttention.q"))
        // A plain suffix, as PEFT's key.endswith: "o" also names every "wo".
        guard case .ia3(let o) = try parse(#"{"peft_type":"IA3","task_type":"SEQ_2_SEQ_LM","target_modules":["o","wo"],"feedforward_modules":["o"]}"#) else { return }
        #expect(o.isFeedForward("encoder.block.0.layer.1.DenseReluDense.wo"))
        #expect(throws: AdapterError.self) {
            try parse(#"{"peft_type":"IA3","task_type":"SEQ_2_SEQ_LM","target_modules":["k"],"feedforward_modules":["wo"]}"#)
        }
        #expect(throws: AdapterError.self) {
            try parse(#"{"peft_type":"IA3","task_type":"SEQ_2_SEQ_LM","modules_to_save":["lm_head"]}"#)
        }
    }

    @Test func adaloraRankPatternAndScale() throws {
        let json = #"{"peft_type":"ADALORA","task_type":"SEQ_2_SEQ_LM","init_r":4,"lora_alpha":16,"target_modules":["q"],"rank_pattern":{"encoder.block.0.layer.0.SelfAttention.q.lora_E":[true,false,true,false]}}"#
        guard case .adalora(let c) = try parse(json) else { Issue.record("not AdaLoRA"); return }
        #expect(c.rank(for: "encoder.block.0.layer.0.SelfAttention.q") == 2)
        #expect(c.rank(for: "encoder.block.1.layer.0.SelfAttention.q") == 4)
        // scaling / (ranknum + 1e-5) with ranknum = init_r, whatever the pruned rank.
        #expect(c.scale(rank: 2) == Float(16) / (Float(4) + 1e-5))
        #expect(throws: AdapterError.self) {
            try parse(#"{"peft_type":"ADALORA","task_type":"SEQ_2_SEQ_LM","init_r":4,"rank_pattern":{"x.lora_E":[true]}}"#)
        }
    }
}

/// Prefix tuning (peft_type "PREFIX_TUNING") is refused. PEFT 0.21.2 on transformers 5.23 sizes the
/// prefix as num_layers x 2 x (num_heads, d_model / num_heads) and hands it to T5 as past_key_values:
/// it fails (IndexError) when num_decoder_layers != num_layers, and (a size mismatch) when
/// num_heads * d_kv != d_model, so it has no reference on either fixture model, and AdapterServe
/// does not apply prefixes yet.
extension PEFTConfig {
    static let prefixTuningRefusal = "peft_type PREFIX_TUNING is not supported yet: AdapterServe does not apply "
        + "per-layer key/value prefixes. (PEFT 0.21 itself can only run it on T5 checkpoints whose "
        + "num_decoder_layers equals num_layers and whose num_heads * d_kv equals d_model.) Use LORA, ADALORA, IA3 or PROMPT_TUNING"
}

import Testing

/// Several parity tests take their arguments from the fixtures through `try?`; a missing or
/// damaged fixture would leave them with no arguments, and a parameterised test with none
/// passes. Loading here throws instead, and the counts are what
/// scripts/reference/make_tokenizer_fixtures.py writes: update them together.
@Suite struct FixtureInventoryTests {
    @Test func everyParityCaseIsLoaded() throws {
        let hard = try ReferenceFixtures.hardStrings.get()
        #expect(hard.encode.count == 96)
        #expect(hard.decode.count == 14)
        #expect(hard.variants.count == 3)
        #expect(try ReferenceFixtures.tiny.get().tokenizers.count == 2)
        #expect(HardStringParityTests.cases.count == 96 && VariantPipelineTests.variants.count == 3
                && TinyTokenizerTests.entries.count == 2)
    }
}

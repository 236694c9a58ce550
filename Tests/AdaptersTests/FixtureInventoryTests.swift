import Testing

/// `AdapterCase.all` feeds the PEFT parity tests; a missing or truncated fixture would leave
/// them with no arguments, and a parameterised test with none passes. The counts are what
/// scripts/reference/make_model_fixtures.py writes: update them together.
@Suite struct FixtureInventoryTests {
    @Test func everyAdapterCaseIsLoaded() {
        #expect(AdapterCase.all.count == 25)
        #expect(AdapterCase.all.filter(\.hasLogits).count == 9)
        #expect(Set(AdapterCase.all.map(\.model)) == ["tiny-flan", "tiny-t5v1"])
    }
}

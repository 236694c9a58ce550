import Foundation
import Testing

/// The parity tests take their cases from the fixtures; a missing or truncated fixture would
/// leave them with no arguments, and a parameterised test with none passes. These counts are
/// what scripts/reference/make_model_fixtures.py writes: update them together.
@Suite struct FixtureInventoryTests {
    @Test func everyBaseModelCaseIsLoaded() throws {
        for model in ReferenceCase.modelNames {
            let data = try Data(contentsOf: FixturePaths.models.appendingPathComponent(model).appendingPathComponent("expected.json"))
            #expect(!data.isEmpty, "\(model)/expected.json")
        }
        #expect(ReferenceCase.baseOnly.count == 26)
        #expect(ReferenceCase.baseOnly.filter(\.hasLogits).count == 10)
    }
}

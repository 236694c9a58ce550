import Foundation
import Testing
@testable import T5

@Suite struct RelativePositionTests {
    /// Every offset in -600...600 under four bucket settings, against transformers' own function.
    @Test func bucketsMatchTransformers() throws {
        let url = FixturePaths.fixtures.appendingPathComponent("t5/relative-buckets.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let cases = json["cases"] as! [[String: Any]]
        #expect(cases.count == 8)
        for c in cases {
            let nb = c["num_buckets"] as! Int, md = c["max_distance"] as! Int
            let bi = c["bidirectional"] as! Bool, first = c["first_offset"] as! Int
            let expected = c["buckets"] as! [Int]
            for (i, e) in expected.enumerated() {
                let got = relativePositionBucket(first + i, bidirectional: bi, numBuckets: nb, maxDistance: md)
                #expect(got == e, "offset \(first + i) buckets \(nb) distance \(md) bidirectional \(bi)")
            }
        }
    }

    @Test func literalBuckets() {
        // FLAN-T5 encoder: 16 buckets per direction, 8 exact.
        #expect(relativePositionBucket(0, bidirectional: true, numBuckets: 32, maxDistance: 128) == 0)
        #expect(relativePositionBucket(3, bidirectional: true, numBuckets: 32, maxDistance: 128) == 19)
        #expect(relativePositionBucket(-3, bidirectional: true, numBuckets: 32, maxDistance: 128) == 3)
        #expect(relativePositionBucket(-16, bidirectional: true, numBuckets: 32, maxDistance: 128) == 10)
        #expect(relativePositionBucket(-1000, bidirectional: true, numBuckets: 32, maxDistance: 128) == 15)
        // Decoder: causal, future offsets all map to bucket 0.
        #expect(relativePositionBucket(5, bidirectional: false, numBuckets: 32, maxDistance: 128) == 0)
        #expect(relativePositionBucket(-5, bidirectional: false, numBuckets: 32, maxDistance: 128) == 5)
    }
}

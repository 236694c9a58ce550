import CKernels

/// The kernel variant in use and the CPU it was chosen for. One binary runs on any x86-64 CPU:
/// the Swift modules are built for the baseline, and CKernels holds each hot kernel in
/// baseline, AVX2+FMA and AVX-512 variants, picked once from cpuid (and xgetbv, so a CPU
/// whose OS does not save the wide registers is treated as lacking them).
public enum KernelISA: Int, Sendable, CaseIterable, CustomStringConvertible {
    case baseline = 0, avx2 = 1, avx512 = 2

    /// The variant every product uses: the best this CPU runs, or ADAPTER_SERVE_ISA
    /// (baseline|avx2|avx512) when set, read once at the first call.
    public static var selected: KernelISA { KernelISA(rawValue: Int(ck_selected_isa().rawValue))! }

    /// The variants this machine can run, lowest first (tests run each).
    public static var supported: [KernelISA] { allCases.filter { ck_isa_supported($0.c) != 0 } }

    /// Why `selected` is not simply the best (an ADAPTER_SERVE_ISA override, or one that could
    /// not be honoured); empty otherwise.
    public static var selectionNote: String { String(cString: ck_selection_note()) }

    public var description: String { String(cString: ck_isa_name(c)) }

    var c: ck_isa { ck_isa(rawValue: UInt32(rawValue)) }

    /// u8 x s8 products without VNNI (vpmaddubsw) add pairs into saturating 16-bit sums, so
    /// activations get 7 bits there; with AVX-512 VNNI (vpdpbusd, 32-bit sums) they get 8.
    public var activationBits: Int { self == .avx512 && CPUFeatures.detected.avx512VNNI ? 8 : 7 }
}

/// The CPU's vector features as the kernels see them (instruction present and OS-enabled).
public struct CPUFeatures: Sendable, CustomStringConvertible {
    public let sse42, avx, avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq: Bool
    public let avx512VNNI, avx512BF16, avxVNNI: Bool

    public static let detected = CPUFeatures(ck_detect_cpu_features())

    init(_ f: ck_cpu_features) {
        sse42 = f.sse42 != 0; avx = f.avx != 0; avx2 = f.avx2 != 0; fma = f.fma != 0; f16c = f.f16c != 0
        avx512f = f.avx512f != 0; avx512bw = f.avx512bw != 0; avx512vl = f.avx512vl != 0; avx512dq = f.avx512dq != 0
        avx512VNNI = f.avx512_vnni != 0; avx512BF16 = f.avx512_bf16 != 0; avxVNNI = f.avx_vnni != 0
    }

    /// The present features, space-separated as /proc/cpuinfo names them.
    public var description: String {
        let all: [(String, Bool)] = [("sse4_2", sse42), ("avx", avx), ("avx2", avx2), ("fma", fma), ("f16c", f16c),
                                     ("avx512f", avx512f), ("avx512bw", avx512bw), ("avx512vl", avx512vl),
                                     ("avx512dq", avx512dq), ("avx512_vnni", avx512VNNI), ("avx512_bf16", avx512BF16),
                                     ("avx_vnni", avxVNNI)]
        let present = all.filter(\.1).map(\.0)
        return present.isEmpty ? "(none beyond x86-64)" : present.joined(separator: " ")
    }

    /// One line for the top of a benchmark: features, the variant in use and why.
    public static var summary: String {
        let note = KernelISA.selectionNote
        return "CPU features: \(detected); kernels: \(KernelISA.selected)" + (note.isEmpty ? "" : " (\(note))")
            + "; int8 activations: \(KernelISA.selected.activationBits)-bit"
    }
}

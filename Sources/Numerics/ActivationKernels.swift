import CKernels

/// GELU and softmax run in CKernels' per-ISA variants: in this module (built for baseline
/// x86-64) they had no FMA or wide vectors and took about 6% of a batch-8 run each. `isa`: nil is
/// the selected variant (`KernelISA.selected`); tests pass each supported one.
extension Kernels {
    /// gelu_new over a buffer in place.
    public static func geluTanhInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, isa: KernelISA? = nil) {
        ck_gelu_tanh(isa?.c ?? ck_selected_isa(), x, count)
    }

    /// Softmax of one row in place.
    public static func softmaxVector(_ x: UnsafeMutablePointer<Float>, count: Int, isa: KernelISA? = nil) {
        ck_softmax_rows(isa?.c ?? ck_selected_isa(), x, 1, count, nil)
    }

    /// Softmax of each row of x (rows, count) in place, after adding bias (rows, count) when given
    /// (attention scores plus T5's position bias, which x then holds).
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, count: Int,
                                   bias: UnsafePointer<Float>? = nil, isa: KernelISA? = nil) {
        ck_softmax_rows(isa?.c ?? ck_selected_isa(), x, rows, count, bias)
    }

    /// The vector e^x and tanh under softmax and GELU, over a buffer in place (for their tests).
    static func expInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, isa: KernelISA) { ck_exp_inplace(isa.c, x, count) }
    static func tanhInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, isa: KernelISA) { ck_tanh_inplace(isa.c, x, count) }

    /// The plain references (double precision on libm, rounded to F32), same contracts.
    static func geluTanhInPlaceReference(_ x: UnsafeMutablePointer<Float>, count: Int) { ck_gelu_tanh_reference(x, count) }
    static func softmaxRowsReference(_ x: UnsafeMutablePointer<Float>, rows: Int, count: Int, bias: UnsafePointer<Float>? = nil) {
        ck_softmax_rows_reference(x, rows, count, bias)
    }
}

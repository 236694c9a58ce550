"""Records bitsandbytes' NF4 quantiser (QLoRA's NormalFloat-4 code) as the reference that
`--weights nf4` (Sources/Numerics/NF4*.swift) must match bit for bit. bitsandbytes needs torch;
scripts/reference/setup-nf4-venv.sh makes .venv-nf4, which has bitsandbytes and sees the
reference venv's torch:

    bash scripts/reference/setup-venv.sh && bash scripts/reference/setup-nf4-venv.sh
    .venv-nf4/bin/python scripts/reference/make_nf4_fixtures.py

bitsandbytes 0.50 runs quantize_4bit and dequantize_4bit on the CPU (no GPU needed). Writes
Tests/Fixtures/nf4/nf4_reference.safetensors (about 7 KB):

  code         F32 (16)        the NF4 table the quantiser used (QuantState.code)
  input        F32 (4, 256)    weights: a (4, 256) Linear's rows, 64-weight blocks within rows
  packed       U8  (512)       quantize_4bit(input, blocksize=64, quant_type="nf4"): two codes
                               per byte, the first of each pair in the high nibble
  absmax       F32 (16)        the fp32 absmax of each 64-weight block (no double quantisation:
                               compress_statistics=False)
  dequantized  F32 (4, 256)    dequantize_4bit(packed, state) in fp32

The blocks cover the cases a re-implementation can get wrong: typical weights (normal, std
0.05), heavy tails, every code value and every midpoint between neighbours (the tie rule: a
value exactly on a midpoint takes the lower code) with their float neighbours, an all-zero
block, a block whose absmax is a negative value, huge and tiny magnitudes.
"""
import pathlib
from importlib.metadata import version

import torch
import bitsandbytes
import bitsandbytes.functional as F
from safetensors.torch import save_file

REPO = pathlib.Path(__file__).resolve().parents[2]
OUT = REPO / "Tests/Fixtures/nf4"
VERSION = version("bitsandbytes")
assert VERSION == "0.50.2", VERSION


def blocks() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(15)
    code = F.get_4bit_type("nf4", device="cpu").float()
    mids = (code[:-1] + code[1:]) / 2   # fp32, as bitsandbytes computes its bucket bounds
    out = []
    for _ in range(6):
        out.append(torch.randn(64, generator=g) * 0.05)   # typical weights
    heavy = torch.randn(64, generator=g) * 0.02
    heavy[7] = 0.9; heavy[40] = -0.4                       # one outlier sets the scale
    out.append(heavy)
    # absmax 1 (the code's own endpoints are present), so scaled values equal the inputs.
    extra = torch.tensor([-0.99999994, 1e-8, -1e-8])       # beside -1 and 0
    exact = torch.cat([code, mids, torch.nextafter(mids, torch.tensor(2.0)),
                       torch.nextafter(mids, torch.tensor(-2.0)), extra])
    out.append(exact)
    # The same at absmax 3: the scaled values pass through the reciprocal product.
    out.append(torch.cat([code * 3, mids * 3, torch.nextafter(mids * 3, torch.tensor(9.0)),
                          torch.nextafter(mids * 3, torch.tensor(-9.0)), extra * 3]))
    out.append(torch.zeros(64))                            # absmax 0
    neg = torch.randn(64, generator=g) * 0.1
    neg[13] = -0.75                                        # absmax from a negative weight
    out.append(neg)
    out.append(torch.randn(64, generator=g) * 1e3)        # huge
    out.append(torch.randn(64, generator=g) * 1e-30)      # tiny (still normal floats)
    uni = torch.rand(64, generator=g) * 2 - 1              # uniform over the whole range
    out.append(uni)
    half_zero = torch.randn(64, generator=g) * 0.05
    half_zero[::2] = 0
    out.append(half_zero)
    out.append(torch.linspace(-0.2, 0.2, 64))
    return out


def main() -> None:
    x = torch.cat(blocks()).reshape(4, 256).contiguous()
    packed, state = F.quantize_4bit(x, blocksize=64, quant_type="nf4", compress_statistics=False)
    assert state.quant_type == "nf4" and state.blocksize == 64 and not state.nested
    deq = F.dequantize_4bit(packed, state)
    assert deq.dtype == torch.float32 and deq.shape == x.shape
    code = state.code.float().contiguous()
    assert torch.equal(code, F.get_4bit_type("nf4", device="cpu").float()), "two NF4 tables"
    OUT.mkdir(parents=True, exist_ok=True)
    save_file({
        "code": code,
        "input": x,
        "packed": packed.reshape(-1).contiguous(),
        "absmax": state.absmax.float().contiguous(),
        "dequantized": deq.contiguous(),
    }, str(OUT / "nf4_reference.safetensors"),
        metadata={"bitsandbytes": VERSION, "torch": torch.__version__, "blocksize": "64", "quant_type": "nf4"})
    print("max |dequantized - input| / absmax per block:",
          float(((deq - x).reshape(-1, 64).abs().amax(1) / state.absmax.clamp(min=1e-38)).max()))


if __name__ == "__main__":
    main()

"""Re-encodes a GGUF model's Q4_1 tensors as Q8_0.

    python scripts/requantize-q8.py IN.gguf OUT.gguf

Why: llama.cpp's fast CPU matrix kernels (tinyBLAS on AVX2) cover Q8_0 but not Q4_1, so
prompt processing of SmolLM2-135M on 2 AVX2 cores goes from ~170 to ~300 tokens/s (see
docs/benchmarks.md). Q4_1 values are dequantized and requantized to 8 bits per weight
with a per-block scale, which keeps them to within Q8_0's rounding (about 0.4% of a
block's range): the model is, for practical purposes, the same model. Metadata (tokenizer,
chat template) is copied as is; only general.file_type changes.

Needs the `gguf` and `numpy` packages (scripts/install-model.sh puts them in a venv)."""
import sys
import numpy as np
import gguf

src, dst = sys.argv[1], sys.argv[2]
reader = gguf.GGUFReader(src)
arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
writer = gguf.GGUFWriter(dst, arch=arch, endianess=reader.endianess)
for field in reader.fields.values():
    if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
        continue
    val_type = field.types[0]
    sub_type = field.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
    if field.name == gguf.Keys.General.FILE_TYPE:
        writer.add_key_value(field.name, int(gguf.LlamaFileType.MOSTLY_Q8_0), val_type)
        continue
    writer.add_key_value(field.name, field.contents(), val_type, sub_type=sub_type)
tensors = []
for t in reader.tensors:
    if t.tensor_type == gguf.GGMLQuantizationType.Q4_1:
        data = gguf.quants.dequantize(t.data, t.tensor_type)
        q = gguf.quants.quantize(data.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
        tensors.append((t.name, q, gguf.GGMLQuantizationType.Q8_0))
    else:
        tensors.append((t.name, t.data, t.tensor_type))
for name, data, ttype in tensors:
    writer.add_tensor_info(name, data.shape, data.dtype, data.nbytes, ttype)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_ti_data_to_file()
for name, data, ttype in tensors:
    writer.write_tensor_data(data)
writer.close()

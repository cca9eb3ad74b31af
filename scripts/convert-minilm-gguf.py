#!/usr/bin/env python3
"""Converts a BERT sentence-embedding model (all-MiniLM-L6-v2, BGE-small) to GGUF for llama-server.

Usage: convert-minilm-gguf.py MODEL_DIR OUT.gguf [--q8]

MODEL_DIR holds Hugging Face files: config.json, model.safetensors, tokenizer.json,
vocab.txt and (optionally) 1_Pooling/config.json. Needs only `gguf`, `safetensors` and
`numpy`: llama.cpp's own convert_hf_to_gguf.py imports torch and transformers, which are
gigabytes; what it does for BERT is small and repeated here:

- hyperparameters under the `bert.` prefix, causal attention off, the pooling type from
  sentence-transformers' pooling config (mean for MiniLM, CLS for BGE);
- the WordPiece vocabulary in llama.cpp's "phantom space" form: a word-initial token gets
  a leading U+2581, a `##` continuation loses its `##`, control tokens stay as they are;
- tensors renamed by gguf's BERT name map; weight matrices stored as f16; vectors (norms,
  biases) and the position and token-type embeddings as f32, as llama.cpp expects;
- `--q8`: the transformer's weight matrices as Q8_0 instead (llama.cpp's fast AVX2
  kernels cover Q8_0; the embeddings stay within Q8_0's rounding of the f16 model's).
"""
import json
import sys
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import load_file


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--q8"]
    q8 = "--q8" in sys.argv[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = Path(args[0]), Path(args[1])
    cfg = json.loads((src / "config.json").read_text())
    if cfg.get("model_type") != "bert":
        print(f"error: {src} is a {cfg.get('model_type')!r} model, not bert", file=sys.stderr)
        return 1
    n_layers = int(cfg["num_hidden_layers"])
    arch = gguf.MODEL_ARCH.BERT
    w = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[arch])

    name = cfg.get("_name_or_path", src.name).split("/")[-1]
    w.add_name(name)
    w.add_context_length(int(cfg["max_position_embeddings"]))
    w.add_embedding_length(int(cfg["hidden_size"]))
    w.add_feed_forward_length(int(cfg["intermediate_size"]))
    w.add_block_count(n_layers)
    w.add_head_count(int(cfg["num_attention_heads"]))
    w.add_layer_norm_eps(float(cfg.get("layer_norm_eps", 1e-12)))
    w.add_causal_attention(False)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if q8 else gguf.LlamaFileType.MOSTLY_F16)

    pooling = gguf.PoolingType.MEAN
    pool_cfg = src / "1_Pooling" / "config.json"
    if pool_cfg.is_file():
        p = json.loads(pool_cfg.read_text())
        if p.get("pooling_mode_cls_token"):
            pooling = gguf.PoolingType.CLS
        elif p.get("pooling_mode_mean_tokens"):
            pooling = gguf.PoolingType.MEAN
        else:
            print(f"error: unsupported pooling in {pool_cfg}: {p}", file=sys.stderr)
            return 1
    w.add_pooling_type(pooling)

    # Vocabulary: vocab.txt order is the token id order.
    tokens = (src / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    tok = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    special = {t["id"] for t in tok.get("added_tokens", []) if t.get("special")}
    types, pieces = [], []
    for i, t in enumerate(tokens):
        if i in special:
            types.append(gguf.TokenType.CONTROL)
            pieces.append(t)
        elif t.startswith("##"):
            types.append(gguf.TokenType.NORMAL)
            pieces.append(t[2:])
        else:
            types.append(gguf.TokenType.NORMAL)
            pieces.append("\u2581" + t)
    w.add_token_type_count(int(cfg.get("type_vocab_size", 1)))
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list(pieces)
    w.add_token_types(types)
    ids = {t: i for i, t in enumerate(tokens)}
    for key, setter in [
        ("[UNK]", w.add_unk_token_id),
        ("[CLS]", w.add_bos_token_id),
        ("[SEP]", w.add_eos_token_id),
        ("[PAD]", w.add_pad_token_id),
        ("[MASK]", w.add_mask_token_id),
    ]:
        if key in ids:
            setter(ids[key])
    if "[SEP]" in ids:
        w.add_sep_token_id(ids["[SEP]"])
    if "[CLS]" in ids:
        w.add_cls_token_id(ids["[CLS]"]) if hasattr(w, "add_cls_token_id") else None
    # [CLS] text [SEP], as the tokenizer's post-processor does.
    w.add_add_bos_token(True)
    if hasattr(w, "add_add_sep_token"):
        w.add_add_sep_token(True)
    w.add_add_eos_token(False)

    names = gguf.get_tensor_name_map(arch, n_layers)
    tensors = load_file(str(src / "model.safetensors"))
    skip = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")
    for hf_name, data in tensors.items():
        n = hf_name[5:] if hf_name.startswith("bert.") else hf_name
        if n in skip or n.startswith("cls."):
            continue
        if n.endswith(".gamma"):
            n = n[:-6] + ".weight"
        if n.endswith(".beta"):
            n = n[:-5] + ".bias"
        new = names.get_name(n, try_suffixes=(".weight", ".bias"))
        if new is None:
            print(f"error: no GGUF name for tensor {hf_name}", file=sys.stderr)
            return 1
        # Position and token-type embeddings are added to f32 activations: llama.cpp
        # keeps them f32, as it does vectors and norms.
        keep_f32 = data.ndim < 2 or new in ("position_embd.weight", "token_types.weight")
        if keep_f32:
            w.add_tensor(new, data.astype(np.float32))
        elif q8 and new.startswith("blk.") and data.shape[-1] % 32 == 0:
            q = gguf.quants.quantize(data.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(new, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(new, data.astype(np.float16))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {out} ({out.stat().st_size // 1_000_000} MB, {len(pieces)} tokens, {n_layers} layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
